"""A teammate who builds nothing: startdev --catalog → up pulls every box from the team catalog (basic
auth, images by digest from its registry) → push serves the app; a newer published box is reported by
`vagrant box outdated` and fetched by `vagrant box update`, the stock Vagrant CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from contrail import topology
from tests.conftest import REPO, TOPOLOGY_ROLES, Catalog, Result, contrail
from tests.e2e.running import leftovers
from tests.integration.test_startdev import free_port

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Teammate:
    project: Path
    name: str
    port: int
    env: dict[str, str]  # VAGRANT_HOME of their own: no box installed before `up`

    def run(self, *args: str) -> Result:
        done = subprocess.run(
            args, cwd=self.project, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=600
        )
        return Result(done.returncode, done.stdout, done.stderr)


def catalog_images(cat: Catalog, cwd: Path) -> dict[str, str]:
    """box → the image its newest version pins (registry/name@sha256:…)."""
    listed = contrail("catalog", "list", "--catalog", cat.url, "--json", cwd=cwd)
    assert listed.status == 0, listed.stderr
    images: dict[str, str] = {}
    for row in json.loads(listed.stdout):
        images.setdefault(row["box"], row["image"])  # versions are listed newest first
    return images


@contextmanager
def process_list_sampler() -> Iterator[set[str]]:
    """Every command line `ps` shows, sampled every 10 ms for as long as the block runs."""
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            listed = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
            seen.update(listed.stdout.splitlines())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join()


@pytest.fixture(scope="module")
def teammate(published_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Teammate]:
    home = tmp_path_factory.mktemp("teammate")
    project = home / "shop"
    shutil.copytree(REPO / "examples" / "wsgi-app", project)
    mate = Teammate(project, f"mate-{uuid.uuid4().hex[:6]}", free_port(), {"VAGRANT_HOME": str(home / "vagrant.d")})
    images = catalog_images(published_catalog, home)
    subprocess.run(["docker", "image", "rm", *images.values()], capture_output=True)  # as on a fresh machine
    rendered = contrail(
        "startdev",
        "--name",
        mate.name,
        "--web",
        "1",
        "--app",
        "1",
        "--port",
        str(mate.port),
        "--stats-port",
        str(free_port()),
        "--catalog",
        published_catalog.url,
        cwd=project,
        env=mate.env,
    )
    assert rendered.status == 0, rendered.stderr
    try:
        yield mate
    finally:
        if leftovers(mate.name):
            contrail("destroy", cwd=project, env=mate.env)


def test_startdev_keeps_the_catalog_credentials_out_of_shared_files(teammate, published_catalog):
    password = published_catalog.credentials.split(":", 1)[1]
    for shared in ("Vagrantfile", "contrail.toml", "fabfile.py"):
        assert password not in (teammate.project / shared).read_text(), shared
    assert f'catalog = "{published_catalog.public_url}"' in (teammate.project / "contrail.toml").read_text()
    kept = teammate.project / ".contrail" / "secrets.toml"
    assert kept.stat().st_mode & 0o777 == 0o600 and password in kept.read_text()


def test_up_pulls_every_box_from_the_catalog_and_push_serves_the_app(teammate, published_catalog, figures):
    images = catalog_images(published_catalog, teammate.project)
    assert not any(
        subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0
        for image in images.values()
    ), "the catalog's images must not be on this machine before up"
    password = published_catalog.credentials.split(":", 1)[1]
    with process_list_sampler() as command_lines:
        up = contrail("up", cwd=teammate.project, env=teammate.env)
    assert up.status == 0, up.stdout + up.stderr
    assert len(command_lines) > 100 and any("docker" in line for line in command_lines)
    assert [line for line in command_lines if password in line] == []  # `ps` never showed it
    said = up.stdout.strip().splitlines()[-1]
    figures.append(f"teammate up from the catalog (proxy, web1, app1, database, cache): {said}")
    for role in TOPOLOGY_ROLES:
        node = {"web": "web1", "app": "app1", "db": topology.DATABASE_NODE}.get(role, role)
        running = subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Image}}", f"{teammate.name}-{node}"],
            capture_output=True,
            text=True,
        )
        assert running.stdout.strip() == images[f"contrail/{role}"], role
    boxes = teammate.run("vagrant", "box", "list")
    for role in TOPOLOGY_ROLES:
        assert f"contrail/{role}" in boxes.stdout, boxes.stdout

    pushed = teammate.run(str(Path(sys.executable).parent / "fab"), "push")
    assert pushed.status == 0, pushed.stderr
    with urllib.request.urlopen(f"http://127.0.0.1:{teammate.port}/", timeout=10) as response:
        assert response.status == 200 and "plain WSGI app" in response.read().decode()


def test_a_newer_published_box_is_seen_and_fetched_by_stock_vagrant(teammate, published_catalog, built_boxes):
    listing = contrail("catalog", "list", "--catalog", published_catalog.url, "--json", cwd=built_boxes)
    listed = json.loads(listing.stdout)
    latest = max(tuple(int(p) for p in r["version"].split(".")) for r in listed if r["box"] == "contrail/web")
    newer = f"{latest[0]}.{latest[1] + 1}.0"
    published = contrail("publish", "--catalog", published_catalog.url, "--version", newer, "web", cwd=built_boxes)
    assert published.status == 0, published.stderr

    again = contrail("up", cwd=teammate.project, env=teammate.env)
    assert again.status == 0, again.stderr
    assert "Newer boxes are published for contrail/web" in again.stdout, again.stdout

    outdated = teammate.run("vagrant", "box", "outdated")
    assert outdated.status == 0, outdated.stderr
    assert "A newer version of the box 'contrail/web'" in " ".join(outdated.stdout.split()), outdated.stdout
    assert f"'{newer}'" in outdated.stdout
    updated = teammate.run("vagrant", "box", "update")
    assert updated.status == 0, updated.stdout + updated.stderr
    assert f"contrail/web   (docker, {newer})" in teammate.run("vagrant", "box", "list").stdout


def test_destroy_leaves_nothing(teammate):
    destroyed = contrail("destroy", cwd=teammate.project, env=teammate.env)
    assert destroyed.status == 0, destroyed.stderr
    assert leftovers(teammate.name) == []
