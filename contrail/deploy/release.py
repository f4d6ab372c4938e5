"""Release naming and the digests that decide what a push must do (pure functions).

- A release id sorts in time order: `YYYYmmdd-HHMMSS-ffffff` (UTC, microseconds).
- The requirements key names a wheelhouse and a venv: equal key → nothing to install.
- The code digest lets a push skip the import check when no Python file and no requirement changed
  (the live release already passed it); migration and static digests let it skip `migrate` and
  `collectstatic` likewise (`fab migrate` always runs).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The app box runs Debian bookworm's Python (3.11.2, checked by `contrail verify`); wheels are built for it.
TARGET_PYTHON = "3.11"
TARGET_FULL_PYTHON = "3.11.2"
# Environment markers as the app box's Python evaluates them (for dependencies pip skips on the host).
TARGET_MARKERS = {
    "python_version": TARGET_PYTHON,
    "python_full_version": TARGET_FULL_PYTHON,
    "implementation_name": "cpython",
    "implementation_version": TARGET_FULL_PYTHON,
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
}
# Never part of a release: VCS and tool state, Contrail's own files, local artefacts.
EXCLUDES = (
    ".git/",
    ".hg/",
    ".contrail/",
    ".vagrant/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "venv/",
    "node_modules/",
    "Vagrantfile",
    "fabfile.py",
    "contrail.toml",
    "devenv/",
    "staticfiles/",
    "*.sqlite3",
)
_SKIP_DIRS = {".git", ".contrail", ".vagrant", "__pycache__", ".venv", "venv", "node_modules", "staticfiles", "devenv"}


RELEASE_ID = "%Y%m%d-%H%M%S-%f"  # sorts as it was taken: rollback, pruning and Tomcat's versions rely on it


def new_release_id(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime(RELEASE_ID)


def release_id_after(live: str, now: datetime.datetime | None = None) -> str:
    """A new id that sorts after `live` (another push's, which went live after this one took its id, or
    one made on a host whose clock runs ahead): now, or the microsecond after `live`."""
    taken = new_release_id(now)
    if taken > live:
        return taken
    after = datetime.datetime.strptime(live, RELEASE_ID) + datetime.timedelta(microseconds=1)
    return after.strftime(RELEASE_ID)


def requirement_lines(requirements: Path) -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in requirements.read_text().splitlines()]
    return [ln for ln in lines if ln]


def requirements_key(requirements: Path, extra: Sequence[str] = ()) -> str:
    """Names the wheelhouse and the venv: the requirements as written (and what Contrail adds to them,
    `extra`), for the target Python."""
    data = "\n".join([*requirement_lines(requirements), *extra]) + f"\npython={TARGET_FULL_PYTHON}"
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def app_files(root: Path) -> list[Path]:
    """The app's files, sorted: one walk that never enters what is never part of a release (a `.venv`,
    `node_modules` or `.contrail/logs` can hold more files than the app; a push reads this once)."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in _SKIP_DIRS]
        found += [path for path in (Path(directory, name) for name in names) if path.is_file()]
    return sorted(found)


def tree_digest(root: Path, paths: Iterable[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for path in paths:
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _within(root: Path, path: Path, directory: str) -> bool:
    """`path` is under a directory named `directory` inside the app (not above it: a project may live
    in ~/static/shop)."""
    return directory in path.relative_to(root).parts[:-1]


def code_digest(root: Path, files: Sequence[Path], requirements_key: str) -> str:
    """Everything an import of the release depends on: its Python files (of `files`, `app_files(root)`)
    and its requirements."""
    return tree_digest(root, [p for p in files if p.suffix == ".py"], requirements_key)


def migrations_digest(root: Path, files: Sequence[Path]) -> str:
    return tree_digest(root, [p for p in files if p.suffix == ".py" and _within(root, p, "migrations")])


def static_digest(root: Path, files: Sequence[Path], requirements_key: str) -> str:
    """Static sources of the app and, through the requirements key, of its packages (e.g. admin)."""
    return tree_digest(root, [p for p in files if _within(root, p, "static")], requirements_key)


@dataclass(frozen=True)
class Digests:
    """The digests a push compares with what the servers have, from one walk of the app's tree."""

    code: str
    migrations: str
    static: str

    @classmethod
    def of(cls, root: Path, requirements_key: str, code_key: str) -> Digests:
        """`code_key`: what else an import depends on (the requirements key and Contrail's settings)."""
        files = app_files(root)
        return cls(
            code_digest(root, files, code_key),
            migrations_digest(root, files),
            static_digest(root, files, requirements_key),
        )
