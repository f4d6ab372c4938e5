"""VirtualBox boxes where VirtualBox cannot run (it has no Debian package): the VM base's export for it
(qemu-img's stream-optimized VMDK and the OVF that describes it), the template's virtualbox-ovf source as
Packer validates it with what a build passes, a packaged box in this machine's catalog added by stock
Vagrant, and what `build-boxes --provider virtualbox` says without VirtualBox. The export booted on an
IDE disk is in tests/e2e/test_libvirt.py (it needs the real VM base)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from contrail.boxes import ovf
from contrail.boxes.base import BASE_ROLE
from contrail.boxes.builders import VIRTUALBOX_MAC, VirtualBoxBuilder
from contrail.boxes.images import Box, box_labels
from contrail.boxes.roles import SUFFIX
from contrail.boxes.vmstore import CATALOG, RECORD, VmBoxStore, box_file, boxes_dir
from contrail.catalog.metadata import parse_metadata
from contrail.tools.run import run
from tests.conftest import REPO, contrail, one_line_error

pytestmark = pytest.mark.integration
NS = {"ovf": ovf.OVF, "rasd": ovf.RASD}
NAMESPACE = "contrail"  # startdev's default


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONTRAIL_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def vm_base(tmp_path: Path) -> Box:
    """A stand-in for the libvirt store's VM base: a real (empty, sparse) qcow2 disk and its record."""
    store = VmBoxStore(NAMESPACE, "libvirt")
    staged = store.staging(BASE_ROLE)
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(staged / "box.img"), "2G"])
    (staged / RECORD).write_text(json.dumps(box_labels(NAMESPACE, BASE_ROLE, "1.0.0", "basehash", "now")))
    return store.promote(str(staged))


def test_the_export_is_a_stream_optimized_vmdk_on_an_ide_controller(data, tmp_path):
    base, exported = ovf.ensure_ovf_base(vm_base(tmp_path), VmBoxStore(NAMESPACE, "virtualbox"), tmp_path / "log")
    assert exported and base.input_hash == "basehash"
    again, exported_again = ovf.ensure_ovf_base(vm_base(tmp_path), VmBoxStore(NAMESPACE, "virtualbox"), tmp_path / "l")
    assert not exported_again and again == base  # exported once per VM base

    vmdk = Path(base.image_id) / ovf.VMDK
    info = json.loads(run(["qemu-img", "info", "--output=json", str(vmdk)]).output)
    assert info["format"] == "vmdk" and info["format-specific"]["data"]["create-type"] == "streamOptimized"
    root = ET.parse(Path(base.image_id) / ovf.DESCRIPTOR).getroot()
    file = root.find("ovf:References/ovf:File", NS)
    disk = root.find("ovf:DiskSection/ovf:Disk", NS)
    assert file is not None and disk is not None
    assert file.get(f"{{{ovf.OVF}}}href") == ovf.VMDK
    assert int(file.get(f"{{{ovf.OVF}}}size", "0")) == vmdk.stat().st_size
    assert int(disk.get(f"{{{ovf.OVF}}}capacity", "0")) == 2 * 1024**3 == info["virtual-size"]
    items = {
        i.findtext("rasd:InstanceID", namespaces=NS): i
        for i in root.iterfind("ovf:VirtualSystem/ovf:VirtualHardwareSection/ovf:Item", NS)
    }
    [drive] = [i for i in items.values() if i.findtext("rasd:ResourceType", namespaces=NS) == str(ovf.DISK_DRIVE)]
    controller = items[drive.findtext("rasd:Parent", namespaces=NS)]
    assert controller.findtext("rasd:ResourceSubType", namespaces=NS) == "PIIX4"  # ata_piix: the kernel has it
    assert drive.findtext("rasd:HostResource", namespaces=NS) == "/disk/vmdisk1"


@pytest.mark.parametrize(
    "var_file", sorted((REPO / "boxes" / "roles").glob(f"*{SUFFIX}")), ids=lambda p: p.name.removesuffix(SUFFIX)
)
def test_packer_validates_the_virtualbox_source_with_what_a_build_passes(data, tmp_path, var_file):
    base, _ = ovf.ensure_ovf_base(vm_base(tmp_path), VmBoxStore(NAMESPACE, "virtualbox"), tmp_path / "log")
    variables = VirtualBoxBuilder().variables(base, tmp_path / "build")
    assert (
        variables["base_ovf_checksum"] == "sha256:" + json.loads((Path(base.image_id) / RECORD).read_text())["sha256"]
    )
    real = {"scripts_dir": str(REPO / "provision_scripts"), "wheel_dir": str(tmp_path), "labels": "{}"}
    args = ["packer", "validate", "-only=virtualbox-ovf.box", f"-var-file={var_file}"]
    args += [f"-var={k}={v}" for k, v in (variables | real | {"vagrant_pubkey": "x"}).items()]
    done = subprocess.run([*args, str(REPO / "boxes" / "box.pkr.hcl")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def packed_box(base: Box, role: str) -> Box:
    """A role's box as the builder packs it, from the export where a build has Packer's exported VM (named
    as an older VirtualBox names an exported disk), made current in this machine's VirtualBox store."""
    store = VmBoxStore(NAMESPACE, "virtualbox")
    builder = VirtualBoxBuilder()
    workdir = builder.workdir(store, role)
    (workdir / "packer").mkdir()
    descriptor = (Path(base.image_id) / ovf.DESCRIPTOR).read_text().replace(ovf.VMDK, "box-disk1.vmdk")
    (workdir / "packer" / "box.ovf").write_text(descriptor)
    shutil.copyfile(Path(base.image_id) / ovf.VMDK, workdir / "packer" / "box-disk1.vmdk")
    labels = box_labels(NAMESPACE, role, store.next_version(role), f"{role}hash", "now")
    return store.promote(builder.finish(builder.artifact("", workdir, labels)))


def test_a_packaged_virtualbox_box_is_added_by_stock_vagrant_from_this_machines_catalog(data, tmp_path):
    """Its files, its catalog entry, and `vagrant box add --provider virtualbox` checking its sha256."""
    base, _ = ovf.ensure_ovf_base(vm_base(tmp_path), VmBoxStore(NAMESPACE, "virtualbox"), tmp_path / "log")
    box = packed_box(base, "web")

    packaged = Path(box.image_id) / box_file("virtualbox")
    with tarfile.open(packaged) as tar:
        assert sorted(tar.getnames()) == ["Vagrantfile", "box-disk001.vmdk", "box.ovf", "metadata.json"]
        member = tar.extractfile("Vagrantfile")
        assert member is not None and f'base_mac = "{VIRTUALBOX_MAC}"' in member.read().decode()
        member = tar.extractfile("box.ovf")
        assert member is not None and 'href="box-disk001.vmdk"' in member.read().decode()
    catalog = boxes_dir(NAMESPACE, "virtualbox") / "web" / CATALOG
    [version] = parse_metadata(catalog.read_bytes(), str(catalog)).versions
    [provider] = version.providers
    assert (provider.name, provider.url) == ("virtualbox", packaged.as_uri())

    env = {**os.environ, "VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_CHECKPOINT_DISABLE": "1"}
    added = subprocess.run(
        ["vagrant", "box", "add", "--provider", "virtualbox", catalog.as_uri()],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Successfully added box 'contrail/web' (v1.0.0) for 'virtualbox'" in added.stdout, added.stdout
    assert "Calculating and comparing box checksum" in added.stdout, added.stdout


def test_building_virtualbox_boxes_without_virtualbox_says_what_to_install(tmp_path):
    if shutil.which("VBoxManage"):
        pytest.skip("VirtualBox is installed here")
    result = contrail("build-boxes", "--provider", "virtualbox", "web", cwd=tmp_path)
    one_line_error(result, r"VirtualBox is not installed here \(no VBoxManage on PATH\) — install VirtualBox 7")


def test_startdev_renders_for_virtualbox_and_contrail_leaves_running_it_to_vagrant(data, tmp_path):
    base, _ = ovf.ensure_ovf_base(vm_base(tmp_path), VmBoxStore(NAMESPACE, "virtualbox"), tmp_path / "log")
    boxes = {role: packed_box(base, role) for role in ("proxy", "web", "app", "db")}
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    args = ("--provider", "virtualbox", "--web", "1", "--app", "1", "--cache", "0")
    rendered = contrail("startdev", "--vagrant", "--name", "vbox-shop", *args, cwd=project)
    assert rendered.status == 0, rendered.stdout + rendered.stderr
    vagrantfile = (project / "Vagrantfile").read_text()
    for role, box in boxes.items():
        assert f'box: "{role}"' in vagrantfile and f'vm_box_version: "{box.version}"' in vagrantfile
    assert f'VM_CATALOG = "{(data / "boxes").as_uri()}"' in vagrantfile
    assert 'PROVIDER = "virtualbox"' in vagrantfile  # its versions pin the virtualbox machines only

    refused = contrail("up", cwd=project)
    one_line_error(refused, r"not VirtualBox's .* — run `vagrant up --provider virtualbox` in the project")
