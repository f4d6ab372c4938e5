"""Boxes of the libvirt provider: files, one directory per version, with a record beside the disk.

    <data dir>/boxes/<namespace>/<role>/<version>/libvirt.box  a role's box (box.img, metadata.json, Vagrantfile)
                                               /box.img       the base only: its disk (qcow2), Packer's input
                                               /vmlinuz, /initrd.img  the base only: its kernel
                                               /contrail.json role, version, input hash, build time, checksums
    <data dir>/boxes/<namespace>/<role>/current               the version the role uses now
    <data dir>/boxes/<namespace>/<role>/metadata.json         Vagrant's catalog format: every version's .box
                                                              (file:// URL, sha256), what `vagrant box add` reads

The record plays the part of the docker boxes' image labels. A build writes into a staging directory
of the same file system and is moved into place whole (one rename) after its smoke check, then
`current` is replaced atomically: a failed or interrupted build never shows up as a box.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from contrail.boxes.images import (
    CURRENT_TAG,
    FIRST_VERSION,
    LABEL_BUILT_AT,
    LABEL_HASH,
    LABEL_ROLE,
    LABEL_VERSION,
    Box,
    version_key,
)
from contrail.catalog import metadata
from contrail.tools import vagrant
from contrail.workspace import data_dir

RECORD = "contrail.json"
DISK = "box.img"
BOX_FILE = "libvirt.box"
CATALOG = "metadata.json"
CURRENT = "current"
STAGING = ".staging"


def boxes_dir(namespace: str) -> Path:
    return data_dir() / "boxes" / namespace


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


class VmBoxStore:
    """The libvirt boxes of one namespace on this machine."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.root = boxes_dir(namespace)
        self._boxes: list[Box] = []
        self.refresh()

    def refresh(self) -> None:
        boxes = []
        for record in self.root.glob(f"*/*/{RECORD}"):
            version_dir = record.parent
            labels = json.loads(record.read_text())
            role = labels[LABEL_ROLE]
            current = (
                (version_dir.parent / CURRENT).read_text().strip() if (version_dir.parent / CURRENT).exists() else ""
            )
            disk = version_dir / BOX_FILE if (version_dir / BOX_FILE).exists() else version_dir / DISK
            boxes.append(
                Box(
                    namespace=self.namespace,
                    role=role,
                    version=labels[LABEL_VERSION],
                    input_hash=labels.get(LABEL_HASH, ""),
                    built_at=labels.get(LABEL_BUILT_AT, ""),
                    size=disk.stat().st_blocks * 512 if disk.exists() else 0,
                    image_id=str(version_dir),
                    tags=(f"{self.namespace}/{role}:{CURRENT_TAG}",) if current == labels[LABEL_VERSION] else (),
                )
            )
        self._boxes = sorted(boxes, key=lambda b: (b.role, version_key(b.version)))

    def all(self) -> list[Box]:
        return list(self._boxes)

    def current(self, role: str) -> Box | None:
        return next((b for b in self._boxes if b.role == role and b.is_current), None)

    def with_hash(self, role: str, input_hash: str) -> Box | None:
        matches = [b for b in self._boxes if b.role == role and b.input_hash == input_hash]
        return matches[-1] if matches else None

    def next_version(self, role: str) -> str:
        """Past every version of the role here and every one Vagrant has installed under the box's name:
        Vagrant and vagrant-libvirt's storage pool know a box by name and version alone, so a version
        made again (a new data directory, another clone's store) would run the stale box (vagrant-libvirt
        issue #85)."""
        versions = [version_key(b.version) for b in self._boxes if b.role == role]
        versions += [version_key(v) for v in vagrant.installed_versions(f"{self.namespace}/{role}", "libvirt")]
        if not versions:
            return FIRST_VERSION
        major, minor, patch = (*max(versions), 0, 0, 0)[:3]
        return f"{major}.{minor}.{patch + 1}"

    def staging(self, role: str) -> Path:
        """A new, empty directory where a build of `role` writes its box (same file system as the store)."""
        parent = self.root / STAGING
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{role}-", dir=parent))

    def promote(self, box_dir: str) -> Box:
        """Make a built-and-checked box (a staging directory holding its record) or an older version
        (its version directory) the role's current box."""
        source = Path(box_dir)
        labels = json.loads((source / RECORD).read_text())
        role, version = labels[LABEL_ROLE], labels[LABEL_VERSION]
        target = self.root / role / version
        if source != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # a version left by an interrupted promote, never current
                shutil.rmtree(target)
            source.rename(target)
        write_atomically(self.root / role / CURRENT, version + "\n")
        self.refresh()
        self._write_catalog(role)
        box = self.current(role)
        assert box is not None and box.image_id == str(target)
        return box

    def catalog_url(self, role: str) -> str:
        return (self.root / role / CATALOG).as_uri()

    def _write_catalog(self, role: str) -> None:
        """The role's metadata.json: every version that has a .box, for `vagrant box add` (which checks
        each box's sha256 against it)."""
        versions = []
        for box in (b for b in self._boxes if b.role == role):
            packaged = Path(box.image_id) / BOX_FILE
            record = json.loads((Path(box.image_id) / RECORD).read_text())
            if packaged.exists() and record.get("box_sha256"):
                provider = metadata.Provider("libvirt", packaged.as_uri(), record["box_sha256"], box.size)
                versions.append(metadata.Version(box.version, [provider]))
        if versions:
            catalog = metadata.BoxMetadata(f"{self.namespace}/{role}", "", [])
            for version in versions:
                catalog = catalog.with_version(version)
            write_atomically(self.root / role / CATALOG, catalog.to_bytes().decode())
