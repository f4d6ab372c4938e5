"""VM boxes without booting one: the store (staging, promote, current, its Vagrant catalog), the disk the
VM base is written into (a real mkfs.ext4 at the partition's offset), and the builder's apt proxy."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from contrail.boxes import vmbase
from contrail.boxes.builders import LibvirtBuilder
from contrail.boxes.images import box_labels
from contrail.boxes.vmstore import (
    CATALOG,
    CURRENT,
    POOL_VOLUME,
    RECORD,
    VmBoxStore,
    box_file,
    pool_volume_prefix,
)
from contrail.catalog.metadata import parse_metadata
from contrail.digest import file_sha256

BOX_FILE = box_file("libvirt")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VmBoxStore:
    monkeypatch.setenv("CONTRAIL_DATA_DIR", str(tmp_path / "data"))
    return VmBoxStore("team", "libvirt")


def staged_box(store: VmBoxStore, role: str, input_hash: str, content: bytes) -> str:
    """A staging directory as a finished build leaves it: the .box and the record with its checksum."""
    staged = store.staging(role)
    (staged / BOX_FILE).write_bytes(content)
    labels = box_labels("team", role, store.next_version(role), input_hash, "2026-11-30T00:00:00Z")
    labels["box_sha256"] = file_sha256(staged / BOX_FILE)
    (staged / RECORD).write_text(json.dumps(labels))
    return str(staged)


def test_a_promoted_build_is_the_current_box_and_in_the_catalog_vagrant_reads(store: VmBoxStore):
    first = store.promote(staged_box(store, "web", "h1", b"first box"))
    second = store.promote(staged_box(store, "web", "h2", b"second box"))

    assert (first.version, second.version) == ("1.0.0", "1.0.1")
    assert store.current("web") == second and (store.root / "web" / CURRENT).read_text() == "1.0.1\n"
    assert not any((store.root / ".staging").iterdir())  # moved, not copied
    catalog_file = store.root / "web" / CATALOG
    catalog = parse_metadata(catalog_file.read_bytes(), str(catalog_file))
    assert catalog.name == "team/web" and [v.version for v in catalog.versions] == ["1.0.1", "1.0.0"]
    newest = catalog.versions[0].providers[0]
    assert newest.name == "libvirt" and newest.url == (Path(second.image_id) / BOX_FILE).as_uri()
    assert newest.checksum == file_sha256(Path(second.image_id) / BOX_FILE)


def test_an_older_version_with_the_same_inputs_is_made_current_again(store: VmBoxStore):
    old = store.promote(staged_box(store, "db", "same", b"old"))
    store.promote(staged_box(store, "db", "other", b"new"))

    again = store.promote(store.with_hash("db", "same").image_id)  # type: ignore[union-attr]

    assert again.version == old.version and store.current("db") == again
    assert store.next_version("db") == "1.0.2"


def test_a_new_version_is_past_every_one_vagrant_has_installed(store: VmBoxStore, tmp_path, monkeypatch):
    """Vagrant knows a box by name and version alone: a store made anew must not reuse one."""
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant.d"))
    (tmp_path / "vagrant.d/boxes/team-VAGRANTSLASH-app/1.0.4/libvirt").mkdir(parents=True)
    (tmp_path / "vagrant.d/boxes/team-VAGRANTSLASH-app/1.0.9/docker").mkdir(parents=True)  # another provider
    assert store.next_version("app") == "1.0.5" and store.next_version("web") == "1.0.0"


def test_a_build_that_never_finished_is_no_box(store: VmBoxStore):
    store.staging("app")  # a build killed before its promote
    assert store.all() == [] and store.current("app") is None


def test_the_vm_base_disk_is_partitioned_with_ext4_at_its_first_partition(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(vmbase, "DISK_GB", 1)
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hostname").write_text("contrail\n")
    raw = tmp_path / "disk.raw"

    vmbase.make_disk(rootfs, raw, tmp_path / "log")

    with raw.open("rb") as disk:
        data = disk.read(512)
    assert data[510:] == b"\x55\xaa"
    status, kind, start, sectors = struct.unpack("<B3xB3xII", data[446:462])
    assert (status, kind, start) == (0x80, 0x83, vmbase.PARTITION_START)
    assert (start + sectors) * vmbase.SECTOR == 1024**3  # to the disk's end
    offset = start * vmbase.SECTOR
    with raw.open("rb") as disk:
        disk.seek(offset + 1024 + 56)  # the ext4 superblock's magic number
        assert disk.read(2) == b"\x53\xef"
    fs = f"{raw}?offset={offset}"  # e2fsprogs' own way to open a file system inside a disk image
    listing = subprocess.run(["debugfs", "-R", "cat /etc/hostname", fs], capture_output=True, text=True)
    assert listing.stdout == "contrail\n"
    label = subprocess.run(["e2label", fs], capture_output=True, text=True).stdout.strip()
    assert label == vmbase.ROOT_LABEL


@pytest.mark.parametrize(
    ("given", "in_the_vm"),
    [
        ("http://127.0.0.1:3142", "http://10.0.2.2:3142"),
        ("http://localhost:3143", "http://10.0.2.2:3143"),
        ("http://10.231.7.20:3142", "http://10.231.7.20:3142"),
        (None, ""),
    ],
)
def test_a_vm_being_built_reaches_the_hosts_apt_cache_through_qemus_user_network(given, in_the_vm):
    assert LibvirtBuilder().build_proxy(given) == in_the_vm


def test_prune_keeps_the_current_box_and_the_newest_older_ones(store: VmBoxStore, tmp_path, monkeypatch):
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant.d"))  # none of them added to Vagrant
    boxes = [store.promote(staged_box(store, "web", f"h{n}", f"box {n}".encode())) for n in range(4)]
    store.promote(boxes[1].image_id)  # an older one made current again

    said = store.prune(1, tmp_path / "prune.log")

    assert said == ["removed team/web 1.0.0", "removed team/web 1.0.2"]
    assert [b.version for b in store.all()] == ["1.0.1", "1.0.3"] and store.current("web") == boxes[1]
    assert not Path(boxes[0].image_id).exists()
    catalog_file = store.root / "web" / CATALOG
    assert [v.version for v in parse_metadata(catalog_file.read_bytes(), "m").versions] == ["1.0.3", "1.0.1"]


def test_the_pool_volume_of_a_box_version_is_named_as_vagrant_libvirt_names_it():
    prefix = pool_volume_prefix("contrail/app", "1.0.3")
    assert prefix == "contrail-VAGRANTSLASH-app_vagrant_box_image_1.0.3_"
    named = POOL_VOLUME.fullmatch(f"{prefix}box-0123456789abcdef.img")
    assert named and (named["box"], named["version"], named["disk"]) == (
        "contrail-VAGRANTSLASH-app",
        "1.0.3",
        "box-0123456789abcdef",
    )
