"""Real VMs: the proxy, web, app and db roles built as libvirt boxes by Packer's qemu builder (from the
same base and role scripts as the docker boxes), a 4-VM topology brought up by vagrant-libvirt, the
Django example pushed to it and served through HAProxy, and a destroy that leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail.boxes import ovf
from contrail.boxes.vmstore import VmBoxStore, box_file, pool_volume_prefix
from contrail.catalog.metadata import parse_metadata
from contrail.environment.providers.libvirt import LibvirtProvider
from contrail.errors import ContrailError
from contrail.tools import accel, libvirt, qemu
from contrail.tools import vagrant as vagrant_tool
from contrail.workspace import data_dir
from tests.conftest import REPO, contrail
from tests.e2e.running import Env
from tests.integration.test_startdev import free_port

pytestmark = pytest.mark.e2e
ROLES = ("proxy", "web", "app", "db")
# Under software emulation (TCG: no usable KVM, as on this project's 2-core CI machine), building the four
# role boxes from scratch and running the four VMs takes ~16 minutes, a third of the whole suite: there,
# the 4-VM topology is a `slow` test (`make test-slow` runs it). The base and one role box are built either
# way, for the catalog and VirtualBox tests.


def _emulated() -> bool:
    """VMs run under TCG here (doctor's probe, kept in the data directory; no probe possible counts too)."""
    try:
        return accel.acceleration(data_dir()).accel == "tcg"
    except (ContrailError, OSError):
        return True


FOUR_VMS = pytest.mark.slow if _emulated() else pytest.mark.e2e


def build_vm_boxes(state: Path, *roles: str) -> Path:
    started = time.monotonic()
    result = contrail("build-boxes", "--provider", "libvirt", "-j", "2", *roles, cwd=state, timeout=3600)
    print(result.stdout, result.stderr, f"libvirt boxes ready in {time.monotonic() - started:.0f} s")
    assert result.status == 0, result.stdout + result.stderr
    return state


@pytest.fixture(scope="module")
def vm_boxes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vm_boxes(tmp_path_factory.mktemp("vm-factory"), *ROLES)


@pytest.fixture(scope="module")
def vm_web_box(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The VM base and the web role's box (those of `vm_boxes` when it ran first)."""
    return build_vm_boxes(tmp_path_factory.mktemp("vm-web-factory"), "web")


@pytest.fixture(scope="module")
def vms(vm_boxes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    project = tmp_path_factory.mktemp("vms") / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    name, port = f"vm-{uuid.uuid4().hex[:6]}", free_port()
    ports = ("--port", str(port), "--stats-port", str(free_port()))
    nodes = ("--web", "1", "--app", "1", "--cache", "0")  # proxy, web, app, db: 4 VMs
    rendered = contrail("startdev", "--vagrant", "--provider", "libvirt", "--name", name, *ports, *nodes, cwd=project)
    assert rendered.status == 0, rendered.stderr
    try:
        started = time.monotonic()
        up = contrail("up", cwd=project, timeout=1800)
        print(up.stdout, f"4 VMs up and healthy in {time.monotonic() - started:.0f} s")
        assert up.status == 0, up.stdout + up.stderr
        env = Env(project, name, port, rendered.stdout)
        pushed = env.fab("push")
        assert pushed.status == 0, pushed.stdout + pushed.stderr
        yield env
    finally:
        if LibvirtProvider().leftovers(name):
            contrail("destroy", cwd=project, timeout=600)


@FOUR_VMS
def test_the_vagrantfile_runs_the_built_boxes_as_vms(vms: Env) -> None:
    vagrantfile = (vms.project / "Vagrantfile").read_text()
    assert 'LIBVIRT_DRIVER = "qemu"' in vagrantfile or 'LIBVIRT_DRIVER = "kvm"' in vagrantfile
    assert 'PROVIDER = "libvirt"' in vagrantfile  # its versions pin the libvirt machines only
    states = LibvirtProvider().states(vms.name)
    assert states == {node: "running" for node in ("proxy", "web1", "app1", "database")}, states
    store = VmBoxStore("contrail", "libvirt")
    for role in ROLES:
        box = store.current(role)
        assert box is not None and f'vm_box_version: "{box.version}"' in vagrantfile
        # the volume vagrant-libvirt made of the box is named by its version and its disk's checksum
        with tarfile.open(Path(box.image_id) / box_file("libvirt")) as packaged:
            member = packaged.extractfile("metadata.json")
            assert member is not None
            [disk] = json.loads(member.read())["disks"]
        prefix = pool_volume_prefix(f"contrail/{role}", box.version)
        assert libvirt.volumes(prefix) == [f"{prefix}{disk['name']}.img"]


@FOUR_VMS
def test_the_pushed_django_example_is_served_through_haproxy(vms: Env) -> None:
    status, _, body = vms.get("/")
    assert status == 200
    node = re.search(r'class="node">([^<]*)<', body)
    assert node and node.group(1) == "app1", body


@FOUR_VMS
def test_a_template_change_is_pushed_to_the_vm_and_served(vms: Env) -> None:
    template = vms.project / "visits" / "templates" / "visits" / "index.html"
    template.write_text(re.sub(r"<h1>[^<]*</h1>", "<h1>Hello from a VM</h1>", template.read_text()))
    pushed = vms.fab("push")
    assert pushed.status == 0, pushed.stdout + pushed.stderr
    print(pushed.stdout)
    assert "<h1>Hello from a VM</h1>" in vms.get("/")[2]


@FOUR_VMS
def test_a_paused_vm_is_seen_and_restored(vms: Env) -> None:
    paused = contrail("drill", "pause", "app1", cwd=vms.project)
    assert paused.status == 0, paused.stderr
    assert LibvirtProvider().state(vms.name, "app1") == "paused"
    restored = contrail("drill", "restore", cwd=vms.project, timeout=600)
    assert restored.status == 0, restored.stderr
    assert LibvirtProvider().state(vms.name, "app1") == "running"
    assert vms.get("/")[0] == 200


@FOUR_VMS
def test_status_logs_and_verify_read_the_vms(vms: Env) -> None:
    logs = contrail("logs", "web", "app", "proxy", "-n", "3", cwd=vms.project)
    assert logs.status == 0, logs.stderr
    for node in ("web1", "app1", "proxy"):
        assert f"{node} | " in logs.stdout, logs.stdout
    shown = contrail("status", cwd=vms.project)
    assert shown.status == 0, shown.stderr
    for node in ("proxy", "web1", "app1", "database"):
        assert re.search(rf"{node}\b.*running", shown.stdout), shown.stdout
    verified = contrail("verify", cwd=vms.project, timeout=900)
    assert verified.status == 0, verified.stdout + verified.stderr


@FOUR_VMS
def test_destroy_leaves_no_domain_volume_or_network(vms: Env) -> None:
    destroyed = contrail("destroy", cwd=vms.project, timeout=600)
    assert destroyed.status == 0, destroyed.stdout + destroyed.stderr
    assert LibvirtProvider().leftovers(vms.name) == []
    domains = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True
    )
    assert vms.name not in domains.stdout


@FOUR_VMS
def test_prune_removes_the_pool_volume_of_a_box_version_vagrant_no_longer_has(vms: Env, tmp_path: Path) -> None:
    """`vagrant box remove` leaves the box's volume in libvirt's pool (vagrant-libvirt#85's other half);
    `contrail prune-boxes` removes it, and leaves the volumes of boxes Vagrant still has."""
    store = VmBoxStore("contrail", "libvirt")
    web, app = store.current("web"), store.current("app")
    assert web is not None and app is not None
    web_volumes = pool_volume_prefix("contrail/web", web.version)
    app_volumes = pool_volume_prefix("contrail/app", app.version)
    assert libvirt.volumes(web_volumes) and libvirt.volumes(app_volumes)  # uploaded by the up above
    removed = vagrant("box", "remove", "--provider", "libvirt", "--box-version", web.version, "contrail/web", env={})
    assert "Removing box 'contrail/web'" in removed, removed
    assert libvirt.volumes(web_volumes)  # what Vagrant leaves behind

    pruned = contrail("prune-boxes", cwd=tmp_path)
    assert pruned.status == 0, pruned.stdout + pruned.stderr
    assert not libvirt.volumes(web_volumes), pruned.stdout
    assert libvirt.volumes(app_volumes)


def test_one_catalog_version_holds_both_providers_and_stock_vagrant_adds_the_libvirt_one(
    vm_web_box: Path, built_boxes: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    for provider in ("docker", "libvirt"):
        published = contrail("publish", "--catalog", str(catalog), "--provider", provider, "web", cwd=built_boxes)
        assert published.status == 0, published.stdout + published.stderr
    metadata = parse_metadata((catalog / "contrail/web/metadata.json").read_bytes(), "metadata.json")
    assert [v.version for v in metadata.versions] == ["1.0.0"]
    assert sorted(p.name for p in metadata.versions[0].providers) == ["docker", "libvirt"]

    vagrant_home = {"VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_CHECKPOINT_DISABLE": "1"}
    url = (catalog / "contrail/web/metadata.json").as_uri()
    added = vagrant("box", "add", "--provider", "libvirt", url, env=vagrant_home)
    assert "Successfully added box 'contrail/web' (v1.0.0) for 'libvirt'" in added, added
    assert "Calculating and comparing box checksum" in added, added

    again = contrail(
        "publish", "--catalog", str(catalog), "--provider", "libvirt", "--version", "1.0.1", "web", cwd=built_boxes
    )
    assert again.status == 0, again.stdout + again.stderr
    outdated = vagrant("box", "outdated", "--global", env=vagrant_home)
    assert re.search(r"contrail/web.*outdated.*1\.0\.1", outdated, re.S), outdated


def test_the_vm_base_exported_for_virtualbox_boots_from_an_ide_disk(vm_web_box: Path, tmp_path: Path) -> None:
    """What a VirtualBox box starts from, on the hardware it asks VirtualBox for (an IDE controller, a
    virtio NIC), booted under QEMU: VirtualBox itself cannot be installed here."""
    vm_base = VmBoxStore("contrail", "libvirt").current("base")
    assert vm_base is not None
    base, _ = ovf.ensure_ovf_base(vm_base, VmBoxStore("contrail", "virtualbox"), tmp_path / "export.log")
    vmdk = Path(base.image_id) / ovf.VMDK
    key = str(vagrant_tool.insecure_private_key())
    with qemu.running(vmdk, accel.acceleration(data_dir()).accel, tmp_path / "boot.log", bus="ide") as port:
        ssh = ["ssh", "-p", str(port), "-i", key, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        ssh += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "vagrant@127.0.0.1"]
        deadline = time.monotonic() + 180
        while True:
            done = subprocess.run([*ssh, "findmnt -no SOURCE /"], capture_output=True, text=True)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
    assert done.stdout.strip() == "/dev/sda1", done.stdout + done.stderr + (tmp_path / "boot.log").read_text()


def vagrant(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(["vagrant", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
