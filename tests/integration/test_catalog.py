"""The box catalog on its real servers (nginx + docker-registry, basic auth) and the real vagrant CLI."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail.boxes.builders import LibvirtBuilder
from contrail.boxes.images import box_labels
from contrail.boxes.vmstore import DISK, RECORD, VmBoxStore, box_file
from contrail.catalog import metadata as fmt
from contrail.catalog import publish as catalog
from contrail.catalog.store import READ_LIMIT, HttpStore, parse_url
from contrail.errors import ToolFailed
from tests.conftest import TOPOLOGY_ROLES, Catalog, Result, contrail, one_line_error, served_directory
from tests.integration.test_startdev import free_port

pytestmark = pytest.mark.integration


def tree(root: Path) -> dict[str, str]:
    """Every file of a catalog's static tree and its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def listing(cat: Catalog, cwd: Path) -> list[dict[str, object]]:
    result = contrail("catalog", "list", "--catalog", cat.url, "--json", cwd=cwd)
    assert result.status == 0, result.stderr
    return json.loads(result.stdout)


def get(cat: Catalog, path: str, *, auth: bool = True, method: str = "GET", accept: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(f"{cat.public_url}/{path}", method=method)
    if auth and cat.credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(cat.credentials.encode()).decode())
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def vagrant_box_add(url: str, box: str, version: str, home: Path) -> Result:
    """Stock `vagrant box add` from the catalog's metadata.json, in its own VAGRANT_HOME."""
    done = subprocess.run(
        ["vagrant", "box", "add", "--provider", "docker", "--box-version", version, f"{url}/{box}/metadata.json"],
        env={**os.environ, "VAGRANT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def test_the_server_listens_on_loopback_and_asks_for_credentials_to_write_or_pull(catalog_server):
    assert get(catalog_server, "v2/", auth=False)[0] == 401
    assert get(catalog_server, "v2/")[0] == 200
    assert get(catalog_server, "x/y/1.0.0/a.box", auth=False, method="DELETE")[0] == 401
    assert get(catalog_server, "x/y/1.0.0/a.box", method="DELETE")[0] == 404
    assert get(catalog_server, "no-such-box/metadata.json", auth=False)[0] == 404  # reading needs none
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{catalog_server.port}"], capture_output=True, text=True)
    assert listening.stdout.split()[3] == f"127.0.0.1:{catalog_server.port}", listening.stdout
    assert (catalog_server.root / "run" / "credentials").stat().st_mode & 0o777 == 0o600
    if os.geteuid() == 0:  # what parses the network's requests does not run as root
        run_dir = catalog_server.root / "run"
        nginx = (run_dir / "nginx.pid").read_text().strip()
        workers = subprocess.run(["ps", "-o", "user=", "--ppid", nginx], capture_output=True, text=True)
        registry = (run_dir / "registry.pid").read_text().strip()
        owner = subprocess.run(["ps", "-o", "user=", "-p", registry], capture_output=True, text=True)
        assert set(workers.stdout.split()) | set(owner.stdout.split()) == {"contrail-catalog"}


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: the servers then run as a service user")
def test_a_directory_the_service_user_cannot_reach_is_refused_in_one_line(tmp_path):
    one_line_error(
        contrail("catalog", "serve", "--dir", str(tmp_path / "catalog"), "--port", str(free_port()), cwd=tmp_path),
        r"is out of reach of the catalog's service user contrail-catalog: .* is closed to others — serve a directory",
    )


def test_publish_then_list_shows_every_role_with_true_checksums(published_catalog, tmp_path):
    rows = {r["box"]: r for r in listing(published_catalog, tmp_path) if r["version"] == "1.0.0"}
    assert {f"contrail/{role}" for role in (*TOPOLOGY_ROLES, "apt-cache")} <= set(rows)
    for row in rows.values():
        assert row["provider"] == "docker" and row["image"].startswith(f"127.0.0.1:{published_catalog.port}/")
        status, box = get(published_catalog, row["url"].removeprefix(published_catalog.public_url + "/"))
        assert status == 200 and hashlib.sha256(box).hexdigest() == row["checksum"]
        name, digest = row["image"].split("/", 1)[1].split("@")
        manifest = get(published_catalog, f"v2/{name}/manifests/{digest}", method="HEAD")
        assert manifest[0] == 200  # the registry holds the image the box pins


def test_anonymous_writes_of_a_box_its_metadata_or_its_image_are_refused(published_catalog, tmp_path):
    cat = published_catalog
    row = next(r for r in listing(cat, tmp_path) if r["box"] == "contrail/web")
    box = str(row["url"]).removeprefix(cat.public_url + "/")
    name, digest = str(row["image"]).split("/", 1)[1].split("@")
    before = tree(cat.root / "catalog")
    manifest = get(cat, f"v2/{name}/manifests/{digest}", accept="application/vnd.docker.distribution.manifest.v2+json")
    attempts = [
        ("PUT", box),  # a .box whose Vagrantfile every teammate's Vagrant would execute
        ("DELETE", box),
        ("PUT", "contrail/web/metadata.json"),
        ("DELETE", "contrail/web/metadata.json"),
        ("PUT", "contrail/evil/metadata.json"),
        ("DELETE", f"v2/{name}/manifests/{digest}"),
        ("PUT", f"v2/{name}/manifests/9.9.9"),
        ("POST", f"v2/{name}/blobs/uploads/"),
    ]
    for method, path in attempts:
        request = urllib.request.Request(f"{cat.public_url}/{path}", data=b"{}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        assert status == 401, (method, path, status)
    assert tree(cat.root / "catalog") == before
    assert (
        get(cat, f"v2/{name}/manifests/{digest}", accept="application/vnd.docker.distribution.manifest.v2+json")
        == manifest
    )
    assert get(cat, box, auth=False)[0] == 200  # reading stays open (stock Vagrant sends no credentials)


def test_publishing_an_unchanged_box_again_adds_no_version(published_catalog, built_boxes):
    # Other tests may have rebuilt proxy since the session published it: publish what is current first.
    first = contrail("publish", "--catalog", published_catalog.url, "proxy", cwd=built_boxes)
    assert first.status == 0, first.stderr
    version = re.search(r"(?:published|unchanged) +contrail/proxy (\S+)", first.stdout).group(1)
    before = tree(published_catalog.root / "catalog")
    again = contrail("publish", "--catalog", published_catalog.url, "proxy", cwd=built_boxes)
    assert again.status == 0, again.stderr
    assert f"unchanged  contrail/proxy {version}" in again.stdout
    assert tree(published_catalog.root / "catalog") == before


def test_an_existing_version_is_refused_without_force_and_versions_only_go_up(published_catalog, built_boxes):
    one_line_error(
        contrail("publish", "--catalog", published_catalog.url, "--version", "1.0.0", "proxy", cwd=built_boxes),
        r"contrail/proxy 1\.0\.0 is already in the catalog for the docker provider — pass --force",
    )
    one_line_error(
        contrail("publish", "--catalog", published_catalog.url, "--version", "0.9.0", "proxy", cwd=built_boxes),
        r"0\.9\.0 is older than the catalog's latest",
    )
    forced = contrail(
        "publish", "--catalog", published_catalog.url, "--version", "1.0.0", "--force", "proxy", cwd=built_boxes
    )
    assert forced.status == 0 and "replaced  contrail/proxy 1.0.0" in forced.stdout, forced.stderr


def test_bad_catalog_input_is_one_line(catalog_server, built_boxes, tmp_path):
    wrong = f"http://contrail:wrong@127.0.0.1:{catalog_server.port}"
    one_line_error(contrail("publish", "--catalog", wrong, "web", cwd=built_boxes), r"refused the credentials")
    one_line_error(
        contrail("publish", "--catalog", catalog_server.public_url, "web", cwd=built_boxes), "asks for credentials"
    )
    one_line_error(
        contrail("catalog", "list", "--catalog", f"http://127.0.0.1:{free_port()}", cwd=tmp_path), "unreachable"
    )
    one_line_error(
        contrail("publish", "--catalog", catalog_server.url, "--namespace", "nobody", "web", cwd=built_boxes),
        r"no web box is built for the docker provider \(namespace nobody\) — run `contrail build-boxes web`",
    )
    one_line_error(contrail("publish", "--catalog", catalog_server.url, "mailer", cwd=built_boxes), "unknown role")
    broken = tmp_path / "broken"
    (broken / "team" / "web").mkdir(parents=True)
    (broken / "index.json").write_text('{"boxes": ["team/web"]}\n')
    (broken / "team" / "web" / "metadata.json").write_text('{\n  "name": "team/web",\n  "versions": [,]\n}\n')
    one_line_error(
        contrail("catalog", "list", "--catalog", str(broken), cwd=tmp_path),
        r"file://.*/team/web/metadata.json:3: not valid JSON",
    )


def make_box_image(namespace: str, role: str, version: str, megabytes: int) -> None:
    """A labelled box image of random (incompressible) bytes, so that pushing it takes a while."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        blob = os.urandom(megabytes * 1024 * 1024)
        info = tarfile.TarInfo("data.bin")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    labels = {
        "org.contrail.role": role,
        "org.contrail.namespace": namespace,
        "org.contrail.version": version,
        "org.contrail.input-hash": hashlib.sha256(version.encode()).hexdigest(),
        "org.contrail.built-at": "2026-01-01T00:00:00Z",
    }
    changes = [arg for k, v in labels.items() for arg in ("--change", f"LABEL {k}={v}")]
    ref = f"{namespace}/{role}:{version}"
    subprocess.run(["docker", "import", *changes, "-", ref], input=data.getvalue(), check=True, capture_output=True)
    subprocess.run(["docker", "tag", ref, f"{namespace}/{role}:latest"], check=True)


@pytest.fixture
def scratch_namespace() -> Iterator[str]:
    namespace = f"cattest{uuid.uuid4().hex[:8]}"
    yield namespace
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"*/{namespace}/*"],
        capture_output=True,
        text=True,
    ).stdout.split()
    refs += [f"{namespace}/web:{tag}" for tag in ("1.0.0", "1.0.1", "latest")]
    subprocess.run(["docker", "image", "rm", "--force", *refs], capture_output=True)


@pytest.fixture(scope="module")
def open_catalog() -> Iterator[Catalog]:
    """A catalog of this module's own (its failures must not touch the session's)."""
    with served_directory("contrail-test-own-catalog-") as root:
        port = free_port()
        served = contrail("catalog", "serve", "--dir", str(root), "--port", str(port), cwd=root.parent)
        assert served.status == 0, served.stderr
        yield Catalog(root, port, (root / "run" / "credentials").read_text().strip())
        contrail("catalog", "serve", "--dir", str(root), "--stop", cwd=root.parent)


def published_scratch_box(cat: Catalog, namespace: str, cwd: Path) -> dict[str, str]:
    """A small scratch web box published as 1.0.0; the catalog's files as they are then."""
    make_box_image(namespace, "web", "1.0.0", 1)
    first = contrail("publish", "--catalog", cat.url, "--namespace", namespace, "web", cwd=cwd)
    assert first.status == 0, first.stderr
    return tree(cat.root / "catalog")


def test_a_failure_between_upload_and_metadata_leaves_the_catalog_as_it_was(
    open_catalog, scratch_namespace, tmp_path, monkeypatch
):
    """The server refuses the first metadata.json, after the image was pushed and the .box uploaded."""
    ns, cat = scratch_namespace, open_catalog
    before = published_scratch_box(cat, ns, tmp_path)
    written: list[str] = []
    write = HttpStore.write

    def refusing_metadata(store: HttpStore, path: str, data: bytes) -> None:
        written.append(path)
        if path.endswith(f"/{fmt.METADATA}"):
            raise ToolFailed(f"PUT {path} refused (injected by the test)")
        write(store, path, data)

    monkeypatch.setattr(HttpStore, "write", refusing_metadata)
    with pytest.raises(ToolFailed, match="injected by the test"):
        catalog.publish(
            parse_url(cat.url), ["web"], namespace=ns, known_roles=["web"], version="9.0.0", log=tmp_path / "log"
        )
    [box, metadata] = written  # the .box was uploaded, then its metadata.json refused
    assert box.startswith(f"{ns}/web/9.0.0/") and metadata == f"{ns}/web/{fmt.METADATA}"
    assert tree(cat.root / "catalog") == before
    added = vagrant_box_add(cat.public_url, f"{ns}/web", "1.0.0", tmp_path / "vagrant.d")
    assert added.status == 0, added.stdout + added.stderr  # still consumable by stock Vagrant


def test_a_publish_killed_mid_upload_changes_nothing_then_prune_deletes_old_images(
    open_catalog, scratch_namespace, tmp_path
):
    ns, cat = scratch_namespace, open_catalog
    before = published_scratch_box(cat, ns, tmp_path)

    make_box_image(ns, "web", "1.0.1", 96)
    uploads = cat.root / "registry" / "docker" / "registry" / "v2" / "repositories" / ns / "web" / "_uploads"
    publisher = subprocess.Popen(
        [sys.executable, "-m", "contrail", "publish", "--catalog", cat.url, "--namespace", ns, "web"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (uploads.is_dir() and any(uploads.iterdir())):
        assert publisher.poll() is None and time.monotonic() < deadline, "the push never started"
        time.sleep(0.02)
    os.killpg(publisher.pid, signal.SIGKILL)  # the publisher and its docker push, mid-upload
    publisher.wait()
    assert tree(cat.root / "catalog") == before
    added = vagrant_box_add(cat.public_url, f"{ns}/web", "1.0.0", tmp_path / "vagrant.d")
    assert added.status == 0, added.stdout + added.stderr

    second = contrail("publish", "--catalog", cat.url, "--namespace", ns, "web", cwd=tmp_path)
    assert second.status == 0 and f"published  {ns}/web 1.0.1" in second.stdout, second.stderr
    old = next(r for r in listing(cat, tmp_path) if r["box"] == f"{ns}/web" and r["version"] == "1.0.0")
    old_digest = str(old["image"]).rpartition("@")[2]
    pruned = contrail("catalog", "prune", "--catalog", cat.url, "--keep", "1", cwd=tmp_path)
    assert pruned.status == 0, pruned.stderr
    assert f"{ns}/web: removed 1.0.0; kept 1.0.1; 1 images" in pruned.stdout
    assert [r["version"] for r in listing(cat, tmp_path) if r["box"] == f"{ns}/web"] == ["1.0.1"]
    assert get(cat, f"v2/{ns}/web/manifests/{old_digest}", method="HEAD")[0] == 404
    assert not any("1.0.0" in path for path in tree(cat.root / "catalog") if path.startswith(ns))


def test_a_directory_catalog_and_a_tampered_box_refused_by_vagrant(built_boxes, tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    published = contrail("publish", "--catalog", f"file://{folder}", "proxy", cwd=built_boxes)
    assert published.status == 0, published.stderr
    [box] = list(folder.rglob("*.box"))
    good = box.read_bytes()
    box.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    refused = vagrant_box_add(f"file://{folder}", "contrail/proxy", "1.0.0", tmp_path / "vagrant.d")
    assert refused.status != 0
    assert "checksum" in (refused.stdout + refused.stderr).lower()
    box.write_bytes(good)
    added = vagrant_box_add(f"file://{folder}", "contrail/proxy", "1.0.0", tmp_path / "vagrant.d")
    assert added.status == 0, added.stdout + added.stderr


def test_a_vm_box_larger_than_any_catalog_file_is_streamed_to_an_http_catalog_and_added_by_vagrant(
    open_catalog, tmp_path, monkeypatch
):
    """A libvirt box of 80 MB of incompressible disk (real ones are hundreds of MB; more than READ_LIMIT
    either way) published to the HTTP catalog and read back, then added by stock Vagrant over HTTP."""
    monkeypatch.setenv("CONTRAIL_DATA_DIR", str(tmp_path / "data"))
    namespace = f"cattest{uuid.uuid4().hex[:8]}"
    store = VmBoxStore(namespace, "libvirt")
    staged = store.staging("web")
    raw = tmp_path / "disk.raw"
    raw.write_bytes(os.urandom(80 * 1024 * 1024))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(staged / DISK)], check=True)
    (staged / "metadata.json").write_text('{"provider": "libvirt", "format": "qcow2", "virtual_size": 1}\n')
    (staged / "Vagrantfile").write_text('Vagrant.configure("2") { |config| }\n')
    (staged / RECORD).write_text(json.dumps(box_labels(namespace, "web", "1.0.0", "h", "now")))
    box = store.promote(LibvirtBuilder().finish(str(staged)))
    assert (Path(box.image_id) / box_file("libvirt")).stat().st_size > READ_LIMIT

    published = contrail(
        "publish", "--catalog", open_catalog.url, "--provider", "libvirt", "--namespace", namespace, "web", cwd=tmp_path
    )
    assert published.status == 0, published.stdout + published.stderr
    added = subprocess.run(
        ["vagrant", "box", "add", "--provider", "libvirt", f"{open_catalog.public_url}/{namespace}/web/metadata.json"],
        env={**os.environ, "VAGRANT_HOME": str(tmp_path / "vagrant.d"), "VAGRANT_CHECKPOINT_DISABLE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert f"Successfully added box '{namespace}/web' (v1.0.0) for 'libvirt'" in added.stdout, added.stdout
