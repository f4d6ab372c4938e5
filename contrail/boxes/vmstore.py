"""Boxes of the VM providers (libvirt, VirtualBox): files, one directory per version, with a record beside
the box.

    <data dir>/boxes/<provider>/<namespace>/<role>/<version>/<provider>.box  a role's box
                                     /box.img                 the libvirt store's base: the VM base's disk
                                     /vmlinuz, /initrd.img    (qcow2), Packer's input, and its kernel
                                     /base.ovf, /base-disk001.vmdk  the VirtualBox store's base: the same
                                                              disk exported for VirtualBox (ovf.py)
                                     /contrail.json           role, version, input hash, build time, checksums
    <data dir>/boxes/<provider>/<namespace>/<role>/current         the version the role uses now
    <data dir>/boxes/<provider>/<namespace>/<role>/metadata.json   Vagrant's catalog format: every version's
                                                              .box (file:// URL, sha256), what `vagrant box add` reads

The record plays the part of the docker boxes' image labels. A build writes into a staging directory
of the same file system and is moved into place whole (one rename) after its smoke check, then
`current` is replaced atomically: a failed or interrupted build never shows up as a box.
"""

from __future__ import annotations

import json
import os
import re
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
    box_labels,
    utc_now,
    version_key,
)
from contrail.catalog import metadata
from contrail.tools import libvirt, vagrant
from contrail.workspace import data_dir

RECORD = "contrail.json"
DISK = "box.img"
CATALOG = "metadata.json"
CURRENT = "current"
STAGING = ".staging"


def catalogs_root() -> Path:
    """Where every VM provider's boxes are: `<root>/<provider>/<namespace>/<role>/metadata.json`."""
    return data_dir() / "boxes"


def boxes_dir(namespace: str, provider: str) -> Path:
    return catalogs_root() / provider / namespace


def box_file(provider: str) -> str:
    """A role's packaged box in its version directory (what the catalog lists and publish uploads)."""
    return f"{provider}.box"


VAGRANTSLASH = "-VAGRANTSLASH-"  # Vagrant's spelling of '/' in a box's name, on disk and in the pool


def pool_volume_prefix(box: str, version: str) -> str:
    """How vagrant-libvirt names the volume it uploads a box version's disk to (0.11: the box name with
    '/' spelled -VAGRANTSLASH-, then _vagrant_box_image_<version>_, then the disk's name: Contrail's boxes
    name it box-<the disk's sha256>)."""
    return f"{box.replace('/', VAGRANTSLASH)}_vagrant_box_image_{version}_"


POOL_VOLUME = re.compile(r"(?P<box>.+?)_vagrant_box_image_(?P<version>[^_]+)_(?P<disk>.+)\.img")


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


class VmBoxStore(StoredBoxes):
    """The boxes of one VM provider and one namespace on this machine."""

    def __init__(self, namespace: str, provider: str) -> None:
        self.namespace = namespace
        self.provider = provider
        self.box_file = box_file(provider)
        self.root = boxes_dir(namespace, provider)
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
            boxes.append(
                Box(
                    namespace=self.namespace,
                    role=role,
                    version=labels[LABEL_VERSION],
                    input_hash=labels.get(LABEL_HASH, ""),
                    built_at=labels.get(LABEL_BUILT_AT, ""),
                    size=sum(f.stat().st_blocks * 512 for f in version_dir.iterdir() if f.name != RECORD),
                    image_id=str(version_dir),
                    tags=(f"{self.namespace}/{role}:{CURRENT_TAG}",) if current == labels[LABEL_VERSION] else (),
                )
            )
        self._boxes = sorted(boxes, key=lambda b: (b.role, version_key(b.version)))

    def versions_taken(self, role: str) -> list[tuple[int, ...]]:
        """Every version of the role here and every one Vagrant has installed under the box's name:
        Vagrant (and vagrant-libvirt's storage pool) know a box by name and version alone, so a version
        made again (a new data directory, another clone's store) would run the stale box (vagrant-libvirt
        issue #85)."""
        installed = vagrant.installed_versions(f"{self.namespace}/{role}", self.provider)
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

    def promote_new(self, staged: Path, role: str, input_hash: str, **extra: str) -> Box:
        """A build in a staging directory recorded (role, the next version, input hash, build time and
        `extra`) and made the role's current box."""
        labels = box_labels(self.namespace, role, self.next_version(role), input_hash, utc_now()) | extra
        (staged / RECORD).write_text(json.dumps(labels, indent=2) + "\n")
        return self.promote(str(staged))

    def prune(self, keep: int, log: Path) -> list[str]:
        """All but the current box of each role and the `keep` newest others removed: from this store,
        from Vagrant (a version a machine still uses stays, and is named), and (libvirt) the volume
        vagrant-libvirt made of it in libvirt's storage pool (Vagrant leaves that behind). What was removed
        or kept, one line each."""
        said = []
        for role in sorted({b.role for b in self._boxes}):
            older = [b for b in self._boxes if b.role == role and not b.is_current]
            for box in older[: max(len(older) - keep, 0)]:
                name = f"{self.namespace}/{role}"
                if box.version in vagrant.installed_versions(name, self.provider):
                    removed = vagrant.box_remove(name, self.provider, box.version, log)
                    if not removed:
                        said.append(f"kept {name} {box.version}: a machine still uses it (see {log})")
                        continue
                if self.provider == "libvirt":
                    for volume in libvirt.volumes(pool_volume_prefix(name, box.version)):
                        libvirt.delete_volume(volume)
                shutil.rmtree(box.image_id)
                said.append(f"removed {name} {box.version}")
        self.refresh()
        for role in {b.role for b in self._boxes}:
            self._write_catalog(role)
        if self.provider == "libvirt":
            said += self._sweep_pool()
        return said

    def _sweep_pool(self) -> list[str]:
        """Volumes of this namespace's boxes whose version Vagrant no longer has (removed by `vagrant box
        remove` or `prune`, which leave the volume behind; a team catalog's boxes too), unless a machine's
        disk is still layered on one."""
        said = []
        in_use = libvirt.backing_volumes()
        for volume in libvirt.volumes(f"{self.namespace}{VAGRANTSLASH}"):
            named = POOL_VOLUME.fullmatch(volume)
            if not named or volume in in_use:
                continue
            box = named["box"].replace(VAGRANTSLASH, "/")
            if named["version"] not in vagrant.installed_versions(box, "libvirt"):
                libvirt.delete_volume(volume)
                said.append(f"removed pool volume {volume} ({box} {named['version']} is no longer in Vagrant)")
        return said

    def _write_catalog(self, role: str) -> None:
        """The role's metadata.json: every version that has a .box, for `vagrant box add` (which checks
        each box's sha256 against it)."""
        versions = []
        for box in (b for b in self._boxes if b.role == role):
            packaged = Path(box.image_id) / self.box_file
            record = json.loads((Path(box.image_id) / RECORD).read_text())
            if packaged.exists() and record.get("box_sha256"):
                provider = metadata.Provider(self.provider, packaged.as_uri(), record["box_sha256"], box.size)
                versions.append(metadata.Version(box.version, [provider]))
        if versions:
            catalog = metadata.BoxMetadata(f"{self.namespace}/{role}", "", [])
            for version in versions:
                catalog = catalog.with_version(version)
            write_atomically(self.root / role / CATALOG, catalog.to_bytes().decode())
