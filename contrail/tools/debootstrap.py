"""debootstrap: a Debian root filesystem in a directory (needs root)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from contrail.tools.run import run


def debootstrap(
    target: Path,
    *,
    suite: str,
    mirror: str,
    variant: str,
    include: Sequence[str],
    log: Path,
    on_line: Callable[[str], None],
    http_proxy: str | None = None,
) -> None:
    args = ["debootstrap", f"--variant={variant}"]
    if include:
        args.append("--include=" + ",".join(include))
    env = {"http_proxy": http_proxy} if http_proxy else None
    run([*args, suite, str(target), mirror], log=log, on_line=on_line, env=env, capture=False)
