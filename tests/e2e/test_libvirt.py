"""Real VMs: the proxy, web, app and db roles built as libvirt boxes by Packer's qemu builder (from the
same base and role scripts as the docker boxes), a 4-VM topology brought up by vagrant-libvirt, the
Django example pushed to it and served through HAProxy, and a destroy that leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail.boxes.vmstore import VmBoxStore
from contrail.catalog.metadata import parse_metadata
from contrail.environment.providers.libvirt import LibvirtProvider
from tests.conftest import REPO, contrail
from tests.e2e.running import Env
from tests.integration.test_startdev import free_port

pytestmark = pytest.mark.e2e
ROLES = ("proxy", "web", "app", "db")


@pytest.fixture(scope="module")
def vm_boxes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("vm-factory")
    started = time.monotonic()
    result = contrail("build-boxes", "--provider", "libvirt", "-j", "2", *ROLES, cwd=state, timeout=3600)
    print(result.stdout, result.stderr, f"libvirt boxes ready in {time.monotonic() - started:.0f} s")
    assert result.status == 0, result.stdout + result.stderr
    return state


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


def test_the_vagrantfile_runs_the_built_boxes_as_vms(vms: Env) -> None:
    vagrantfile = (vms.project / "Vagrantfile").read_text()
    assert 'LIBVIRT_DRIVER = "qemu"' in vagrantfile or 'LIBVIRT_DRIVER = "kvm"' in vagrantfile
    states = LibvirtProvider().states(vms.name)
    assert states == {node: "running" for node in ("proxy", "web1", "app1", "database")}, states
    store = VmBoxStore("contrail")
    for role in ROLES:
        box = store.current(role)
        assert box is not None and f'vm_box_version: "{box.version}"' in vagrantfile


def test_the_pushed_django_example_is_served_through_haproxy(vms: Env) -> None:
    status, _, body = vms.get("/")
    assert status == 200
    node = re.search(r'class="node">([^<]*)<', body)
    assert node and node.group(1) == "app1", body


def test_a_template_change_is_pushed_to_the_vm_and_served(vms: Env) -> None:
    template = vms.project / "visits" / "templates" / "visits" / "index.html"
    template.write_text(re.sub(r"<h1>[^<]*</h1>", "<h1>Hello from a VM</h1>", template.read_text()))
    pushed = vms.fab("push")
    assert pushed.status == 0, pushed.stdout + pushed.stderr
    print(pushed.stdout)
    assert "<h1>Hello from a VM</h1>" in vms.get("/")[2]


def test_a_paused_vm_is_seen_and_restored(vms: Env) -> None:
    paused = contrail("drill", "pause", "app1", cwd=vms.project)
    assert paused.status == 0, paused.stderr
    assert LibvirtProvider().state(vms.name, "app1") == "paused"
    restored = contrail("drill", "restore", cwd=vms.project, timeout=600)
    assert restored.status == 0, restored.stderr
    assert LibvirtProvider().state(vms.name, "app1") == "running"
    assert vms.get("/")[0] == 200


def test_status_and_verify_read_the_vms(vms: Env) -> None:
    shown = contrail("status", cwd=vms.project)
    assert shown.status == 0, shown.stderr
    for node in ("proxy", "web1", "app1", "database"):
        assert re.search(rf"{node}\b.*running", shown.stdout), shown.stdout
    verified = contrail("verify", cwd=vms.project, timeout=900)
    assert verified.status == 0, verified.stdout + verified.stderr


def test_destroy_leaves_no_domain_volume_or_network(vms: Env) -> None:
    destroyed = contrail("destroy", cwd=vms.project, timeout=600)
    assert destroyed.status == 0, destroyed.stdout + destroyed.stderr
    assert LibvirtProvider().leftovers(vms.name) == []
    domains = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True
    )
    assert vms.name not in domains.stdout


def test_one_catalog_version_holds_both_providers_and_stock_vagrant_adds_the_libvirt_one(
    vm_boxes: Path, built_boxes: Path, tmp_path: Path
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


def vagrant(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(["vagrant", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
