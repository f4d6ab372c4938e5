"""The app's dependencies as wheels, built on the host (the machines have no PyPI), cached by key."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from contrail.release import TARGET_PYTHON, requirement_lines, requirements_key
from contrail.tools.run import run


def ensure(requirements: Path, cache: Path, log: Path) -> tuple[str, Path]:
    """(key, directory) of the wheelhouse for `requirements`; built only when the key is new."""
    key = requirements_key(requirements)
    target = cache / key
    if target.is_dir():
        return key, target
    staging = cache / f".{key}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(requirements, staging / "requirements.txt")
    if requirement_lines(requirements):
        run([*pip_command(), "-r", str(requirements), "-w", str(staging)], log=log)
    os.replace(staging, target)
    return key, target


def pip_command() -> list[str]:
    """`pip wheel` when this Python is the target's; else binary wheels downloaded for the target."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == TARGET_PYTHON:
        return [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check"]
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        TARGET_PYTHON,
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
    ]
