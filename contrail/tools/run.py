"""The one way Contrail runs an external program: an argument list, never a shell string.

Every line the program prints goes to the log file (when given) and to `on_line` (for progress or
--verbose streaming); a failure raises ToolFailed naming the command, its exit status, its last lines
and the log.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing

TAIL_LINES = 5


@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    status: int
    output: str


def run(
    args: Sequence[str],
    *,
    log: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    check: bool = True,
    stdin: IO[bytes] | None = None,
    env: dict[str, str] | None = None,
    capture: bool = True,
    cwd: Path | str | None = None,
) -> Completed:
    """Run `args`, streaming its combined output line by line; raise ToolFailed on a non-zero exit."""
    args = tuple(str(a) for a in args)
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.Popen(
            args,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError:
        raise ToolMissing(f"`{args[0]}` is not installed", FIX_DEPS) from None
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    log_file = _open_log(log, args)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if capture:
                lines.append(line)
            tail.append(line)
            if log_file:
                log_file.write(raw)
            if on_line:
                on_line(line)
        status = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if log_file:
            log_file.close()
    if check and status != 0:
        last = " | ".join(t.strip() for t in tail if t.strip())
        raise ToolFailed(
            f"`{shlex.join(args[:2])} …` exited with status {status}: {last}",
            f"full output in {log}" if log else None,
        )
    return Completed(args, status, "\n".join(lines))


def _open_log(log: Path | None, args: tuple[str, ...]) -> IO[str] | None:
    if log is None:
        return None
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("a", encoding="utf-8")
    handle.write(f"$ {shlex.join(args)}\n")
    handle.flush()
    return handle
