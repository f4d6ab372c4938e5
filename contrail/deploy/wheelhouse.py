"""The app's dependencies as wheels, built on the host (the machines have no PyPI), cached by key."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from contrail.deploy.release import TARGET_MARKERS, TARGET_PYTHON, requirement_lines, requirements_key
from contrail.tools.run import run


def ensure(requirements: Path, cache: Path, log: Path, extra: Sequence[str] = ()) -> tuple[str, Path]:
    """(key, directory) of the wheelhouse for `requirements` plus `extra` (requirement lines Contrail
    adds, e.g. the database driver); built only when the key is new."""
    key = requirements_key(requirements, extra)
    target = cache / key
    if target.is_dir():
        return key, target
    staging = cache / f".{key}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    combined = staging / "requirements.txt"
    shutil.copy2(requirements, combined)
    if extra:
        with combined.open("a") as out:
            out.write("\n# added by Contrail (see devenv/contrail_settings.py)\n" + "".join(f"{e}\n" for e in extra))
    if requirement_lines(combined):  # (the project's own file: its relative paths are relative to it)
        run([*pip_command(), "-r", str(requirements), *extra, "-w", str(staging)], log=log)
        for _ in range(5):  # their own dependencies may need more
            missing = target_only_requirements(staging)
            if not missing:
                break
            run([*pip_command(), *missing, "-w", str(staging)], log=log)
    os.replace(staging, target)
    return key, target


def target_only_requirements(wheels: Path) -> list[str]:
    """Dependencies of the wheels in `wheels` that the target's Python needs and none of them provides.

    pip resolves environment markers with the Python that runs it, even with --python-version: a
    marker such as `python_full_version < "3.11.3"` (redis → async-timeout) is false on a 3.11.7 host
    and true on the app box's 3.11.2, whose venv then cannot install from the wheelhouse."""
    # (imported here: only a new wheelhouse needs them, and `fab push` imports this module every time)
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    have = {canonicalize_name(w.name.split("-", 1)[0]) for w in wheels.glob("*.whl")}
    wanted = []
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
            metadata = archive.read(name).decode(errors="replace") if name else ""
        for line in metadata.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker is None or not requirement.marker.evaluate({**TARGET_MARKERS, "extra": ""}):
                continue
            if canonicalize_name(requirement.name) not in have:
                wanted.append(str(Requirement(f"{requirement.name}{requirement.specifier}")))
    return sorted(set(wanted))


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
