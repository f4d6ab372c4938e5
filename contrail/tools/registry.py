"""docker-registry (Distribution 2.8, Debian's package): the image registry behind `contrail catalog serve`."""

from __future__ import annotations

import pwd
import subprocess
from pathlib import Path

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing
from contrail.tools.run import run

PROGRAM = "docker-registry"


def garbage_collect(config: Path, log: Path) -> None:
    """Delete the layers no manifest references any more (the registry must not be running)."""
    run([PROGRAM, "garbage-collect", str(config)], log=log)


def start(config: Path, log: Path, user: pwd.struct_passwd | None = None) -> int:
    """`docker-registry serve config` in the background, in a session of its own (it outlives the
    command that starts it), its output appended to `log`, as `user` when given; its pid.

    ToolMissing when it is not installed; ToolFailed when it cannot be started.
    """
    as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            server = subprocess.Popen(
                [PROGRAM, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **as_user,  # type: ignore[arg-type]
            )
        except FileNotFoundError:
            raise ToolMissing(f"`{PROGRAM}` is not installed", FIX_DEPS) from None
        except OSError as err:
            raise ToolFailed(f"`{PROGRAM} serve` could not be started: {err.strerror}", f"see {log}") from None
    return server.pid
