"""The app's own error, read from an app server's log: the exception, where the app's code raised it,
and — for the mistakes that several servers expose — what to do instead (pure functions).

A release refused by its canary says more than "HTTP 500": Gunicorn, Flask and Contrail's WSGI wrapper
(for Django, whose 500 pages may log nothing) write the traceback to the app's log; the last one there
is the page's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RELEASES = "/srv/app/releases/"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
_RELEASE_PATH = re.compile(r"/srv/app/releases/[^/\s'\"]+/")

# (pattern in the exception, what several servers change about it)
HINTS = (
    (
        re.compile(r"sqlite3?\.|SQLite|readonly database|database is locked", re.IGNORECASE),
        "a SQLite database is a file on one app server (each has its own, and a new release starts without "
        "it): use the database node (DATABASE_URL in the app's environment)",
    ),
    (
        re.compile(r"(Permission denied|Read-only file system|No such file or directory): '/srv/app/"),
        "a file written beside the code stays on that app server and is not in the next release: keep it in "
        "the database, the cache node or storage every server shares",
    ),
    (
        re.compile(r"DisallowedHost|Invalid HTTP_HOST"),
        "the app refuses the Host the topology uses: allow it in ALLOWED_HOSTS (contrail_settings.py adds "
        "the topology's names unless the project reads ALLOWED_HOSTS from the environment)",
    ),
)


@dataclass(frozen=True)
class AppError:
    exception: str  # the exception's first line, e.g. "sqlite3.OperationalError: unable to open database file"
    where: str  # the last frame in the app's own code (else the last frame): "app.py:8 in count"
    hint: str = ""

    def describe(self) -> str:
        text = f"{self.exception} ({self.where})" if self.where else self.exception
        return f"{text} — {self.hint}" if self.hint else text


def last_error(log: str) -> AppError | None:
    """The last traceback in `log` (an app server's log), or None when there is none."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if _is_traceback(line)]
    return _traceback_at(lines, starts[-1]) if starts else None


def _is_traceback(line: str) -> bool:
    return line.rstrip().endswith("Traceback (most recent call last):")


def _traceback_at(lines: list[str], start: int) -> AppError | None:
    """The traceback whose first line is lines[start]."""
    frames: list[re.Match[str]] = []
    exception = ""
    for line in lines[start + 1 :]:
        frame = _FRAME.match(line)
        if frame:
            frames.append(frame)
        elif frames and line and not line.startswith((" ", "\t")):
            exception = line.strip()
            break
    if not exception:
        return None
    own = [f for f in frames if f["file"].startswith(RELEASES)] or frames
    where = ""
    if own:
        frame = own[-1]
        where = f"{_RELEASE_PATH.sub('', frame['file'])}:{frame['line']} in {frame['function']}"
    return AppError(_RELEASE_PATH.sub("<release>/", exception), where, hint_for(exception))


def hint_for(exception: str) -> str:
    return next((hint for pattern, hint in HINTS if pattern.search(exception)), "")


_RAISED = re.compile(r"the app raised while serving (?P<path>\S+):$|Exception on (?P<flask>\S+) \[[A-Z]+\]")


def raised(log: str) -> list[tuple[str, str]]:
    """(request path, exception line) of every request the app failed in `log` (Contrail's wrapper logs
    Django's; Flask logs its own)."""
    found = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        match = _RAISED.search(line)
        if not match:
            continue
        start = next((i for i in range(index + 1, min(index + 5, len(lines))) if _is_traceback(lines[i])), None)
        error = _traceback_at(lines, start) if start is not None else None
        if error:
            found.append((match["path"] or match["flask"], error.exception))
    return found


# Tomcat's log lines (its OneLineFormatter): `29-Nov-2026 21:50:01.123 SEVERE [thread] source message`,
# an exception on the next line indented by a tab.
_SEVERE = re.compile(r"^\S+ \S+ SEVERE \[[^\]]*\] \S+ (?P<message>.*)$")


def deploy_error(log: str, version: str) -> AppError | None:
    """Why Tomcat did not start the root context's `version`, from its log (an app server's): the first
    error it logged after the manager began installing that version, with the exception it names."""
    lines = log.splitlines()
    marks = [i for i, line in enumerate(lines) if f"Installing web application '/##{version}'" in line]
    if not marks:
        return None
    severe: tuple[str, str] | None = None
    for index in range(marks[-1] + 1, len(lines)):
        if "has finished in" in lines[index] or "Installing web application" in lines[index]:
            break  # (the deploy is over: later errors are its requests')
        match = _SEVERE.match(lines[index])
        if not match:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith("\t") and not following.lstrip().startswith("at "):
            return AppError(following.strip(), match["message"].strip())
        severe = severe or (match["message"].strip(), "")
    return AppError(severe[0], "") if severe else None
