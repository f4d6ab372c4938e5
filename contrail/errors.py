"""One error type for everything a user should read: a message, a hint, an exit status.

The CLI catches ContrailError once and prints it as one line. Exit status 2 is bad input or a missing
prerequisite (the user can fix it and retry); 1 is a failure of the work itself (a build that broke).
"""

from __future__ import annotations


class ContrailError(Exception):
    exit_status = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(ContrailError):
    """Bad input in a file: the message starts with file:line."""


class ToolMissing(ContrailError):
    """An external program Contrail needs is not installed or not answering."""


class ToolFailed(ContrailError):
    """An external program ran and failed."""

    exit_status = 1


class BuildFailed(ContrailError):
    exit_status = 1


class CannotBuildHere(BuildFailed):
    """A box this machine cannot build (its provision script exited 69, EX_UNAVAILABLE: e.g. a vendor repository is
    unreachable): a prerequisite, not a broken build."""

    exit_status = 2


FIX_DEPS = "run `make deps` or `contrail doctor --fix`"
