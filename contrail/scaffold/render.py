"""Render a cookiecutter template into a directory atomically, never overwriting a user's edits.

Rendering happens in a temporary directory; each file is then moved into place (copy next to it,
rename over it). `.contrail/rendered.json` records the sha256 of every file Contrail wrote, so a file
the user changed since is recognised and refused (unless forced).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from cookiecutter.main import cookiecutter

from contrail.errors import ContrailError

SLUG_DIR = "project"
MANIFEST = "rendered.json"


def render(template: Path, context: dict[str, object], out: Path, key: str = "contrail") -> Path:
    """The template rendered with `context` (as cookiecutter.<key>) under `out`; its root directory."""
    cookiecutter(
        str(template),
        no_input=True,
        output_dir=str(out),
        extra_context={"project_slug": SLUG_DIR, key: context},
        accept_hooks=False,
    )
    return out / SLUG_DIR


def files_of(rendered: Path) -> list[str]:
    return sorted(str(p.relative_to(rendered)) for p in rendered.rglob("*") if p.is_file())


def refuse_user_changes(rendered: Path, project: Path, state: Path, files: list[str], force: bool) -> None:
    """Before anything is written: a rendered file the user changed is not overwritten unless forced."""
    manifest = _read_manifest(state)
    changed = [f for f in files if _user_changed(project / f, manifest.get(f), rendered / f)]
    if changed and not force:
        raise ContrailError(
            f"not overwriting {', '.join(changed)}: changed since contrail rendered them",
            "move your changes into the .toml configuration, or run the command again with --force to overwrite",
        )


def install(rendered: Path, project: Path, state: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """Move the rendered files into `project`: (written, unchanged), and record what was written."""
    manifest = _read_manifest(state)
    written, unchanged = [], []
    for name in files:
        source, target = rendered / name, project / name
        if target.exists() and sha256(target) == sha256(source):
            unchanged.append(name)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.contrail-new")
        shutil.copy2(source, staged)
        os.replace(staged, target)
        written.append(name)
    _write_manifest(state, manifest | {f: sha256(project / f) for f in files})
    return written, unchanged


def _user_changed(target: Path, recorded: str | None, new: Path) -> bool:
    """A file exists that Contrail did not write as it is now, and the new render differs from it."""
    if not target.exists():
        return False
    current = sha256(target)
    return current != recorded and current != sha256(new)


def _read_manifest(state: Path) -> dict[str, str]:
    file = state / MANIFEST
    return json.loads(file.read_text()) if file.exists() else {}


def _write_manifest(state: Path, manifest: dict[str, str]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, state / MANIFEST)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
