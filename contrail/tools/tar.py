"""tar: a directory as a tar stream, read by another program as it is written (e.g. `docker import -`)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing


@contextmanager
def archive(directory: Path, log: Path) -> Iterator[IO[bytes]]:
    """The output of `tar -C directory -c .` while it runs; tar's errors are appended to `log`.

    ToolMissing when tar is not installed; ToolFailed when it exits non-zero (checked once the `with`
    block is done; if the block raised, that error stands and tar is stopped by its closed pipe).
    """
    args = ["tar", "-C", str(directory), "-c", "."]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as errors:
        errors.write(f"$ {shlex.join(args)}\n".encode())
        errors.flush()
        try:
            tar = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise ToolMissing("`tar` is not installed", FIX_DEPS) from None
        with tar:  # on leaving: its stdout closed, then waited for
            assert tar.stdout is not None
            yield tar.stdout
    if tar.returncode != 0:
        raise ToolFailed(f"`tar` of {directory} exited with status {tar.returncode}", f"its errors are in {log}")
