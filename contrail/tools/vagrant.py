"""Vagrant facts and commands Contrail needs outside python-vagrant: where its public insecure key is,
which boxes are installed, adding one."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path

from contrail.errors import FIX_DEPS, ToolMissing
from contrail.tools.run import run

# Debian's vagrant package, then HashiCorp's own packaging.
_KEY_GLOBS = (
    "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/*/gems/vagrant-*/keys/vagrant.pub",
)


def insecure_public_key() -> str:
    """Vagrant's public insecure key, put in every box; Vagrant replaces it on a machine's first up."""
    for pattern in _KEY_GLOBS:
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="ascii") as handle:
                return handle.read().strip()
    raise ToolMissing("Vagrant's public insecure key (keys/vagrant.pub) was not found", FIX_DEPS)


def home() -> Path:
    return Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def installed_versions(box: str, provider: str) -> list[str]:
    """Versions of `box` installed for `provider` (Vagrant's own layout under VAGRANT_HOME/boxes)."""
    folder = home() / "boxes" / box.replace("/", "-VAGRANTSLASH-")
    return sorted(v.parent.name for v in folder.glob(f"*/{provider}") if v.is_dir()) if folder.is_dir() else []


def box_add(metadata_url: str, provider: str, version: str, log: Path, on_line: Callable[[str], None]) -> None:
    """`vagrant box add` from a catalog's metadata.json (Vagrant checks the box's sha256)."""
    args = ["vagrant", "box", "add", "--provider", provider, *(["--box-version", version] if version else [])]
    run([*args, metadata_url], log=log, on_line=on_line, env={"VAGRANT_CHECKPOINT_DISABLE": "1"})
