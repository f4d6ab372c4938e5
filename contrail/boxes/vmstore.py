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
    LABEL_BUILT_AT,
    LABEL_HASH,
    LABEL_ROLE,
    LABEL_VERSION,
    Box,
    StoredBoxes,
    version_key,
)
from contrail.catalog import metadata
from contrail.tools import libvirt, vagrant
from contrail.workspace import data_dir

RECORD = "contrail.json"
DISK = "box.img"
BOX_FILE = "libvirt.box"
CATALOG = "metadata.json"
CURRENT = "current"
STAGING = ".staging"


def boxes_dir(namespace: str) -> Path:
    return data_dir() / "boxes" / namespace


def pool_volume_prefix(box: str, version: str) -> str:
    """How vagrant-libvirt names the volume it uploads a box version's disk to (0.11: the box name with
    '/' spelled -VAGRANTSLASH-, then _vagrant_box_image_<version>_)."""
    return f"{box.replace('/', '-VAGRANTSLASH-')}_vagrant_box_image_{version}_"


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


class VmBoxStore(StoredBoxes):
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

    def versions_taken(self, role: str) -> list[tuple[int, ...]]:
        """Every version of the role here and every one Vagrant has installed under the box's name:
        Vagrant and vagrant-libvirt's storage pool know a box by name and version alone, so a version
        made again (a new data directory, another clone's store) would run the stale box (vagrant-libvirt
        issue #85)."""
        installed = vagrant.installed_versions(f"{self.namespace}/{role}", "libvirt")
        return super().versions_taken(role) + [version_key(v) for v in installed]

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

    def prune(self, keep: int, log: Path) -> list[str]:
        """All but the current box of each role and the `keep` newest others removed: from this store,
        from Vagrant (a version a machine still uses stays, and is named), and the volume vagrant-libvirt
        made of it in libvirt's storage pool (Vagrant leaves that behind). What was removed or kept, one
        line each."""
        said = []
        for role in sorted({b.role for b in self._boxes}):
            older = [b for b in self._boxes if b.role == role and not b.is_current]
            for box in older[: max(len(older) - keep, 0)]:
                name = f"{self.namespace}/{role}"
                if box.version in vagrant.installed_versions(name, "libvirt"):
                    removed = vagrant.box_remove(name, "libvirt", box.version, log)
                    if not removed:
                        said.append(f"kept {name} {box.version}: a machine still uses it (see {log})")
                        continue
                for volume in libvirt.volumes(pool_volume_prefix(name, box.version)):
                    libvirt.delete_volume(volume)
                shutil.rmtree(box.image_id)
                said.append(f"removed {name} {box.version}")
        self.refresh()
        for role in {b.role for b in self._boxes}:
            self._write_catalog(role)
        return said

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
