"""`contrail up` says when a machine runs an older build of its box than one built since (the Vagrantfile
pins the version `startdev` found): real images in a namespace of the test's own, containers created
from them by the docker engine."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail.boxes.images import BoxStore, box_labels, utc_now
from contrail.environment.dev import stale_machines
from contrail.tools import docker
from contrail.tools.run import run

pytestmark = pytest.mark.integration


def empty_tar(directory: Path) -> Path:
    tar = directory / "empty.tar"
    with tarfile.open(tar, mode="w"):
        pass
    return tar


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"contrail-outdated-{uuid.uuid4().hex[:8]}"
    yield name
    for image in docker.images(f"org.contrail.namespace={name}"):
        run(["docker", "image", "rm", "--force", image.id], check=False)


def build(namespace: str, role: str, version: str, log: Path) -> str:
    """A box image as a build promotes it: labelled, tagged <ns>/<role>:<version> and :latest."""
    changes = [f"LABEL {k}={v}" for k, v in box_labels(namespace, role, version, "h" + version, utc_now()).items()]
    with empty_tar(log.parent).open("rb") as tar:
        image = docker.import_tar(tar, f"{namespace}/{role}:{version}", changes, log)
    return BoxStore(namespace).promote(image).image_id


def test_machines_created_from_a_box_built_again_since_are_named(namespace: str, tmp_path: Path) -> None:
    log = tmp_path / "docker.log"
    old = build(namespace, "app", "1.0.1", log)
    web = build(namespace, "web", "1.0.4", log)
    containers = [f"{namespace}-{name}" for name in ("app1", "app2", "web1")]
    try:
        for name, image in zip(containers, [old, old, web], strict=True):
            run(["docker", "create", "--name", name, image, "true"])
        created = docker.container_images([*containers, f"{namespace}-gone"])
        assert created == dict(zip(containers, [old, old, web], strict=True))
        machines = {
            "app1": ("app", created[containers[0]]),
            "app2": ("app", created[containers[1]]),
            "web1": ("web", created[containers[2]]),
        }
        assert stale_machines(machines, BoxStore(namespace)) == []
        build(namespace, "app", "1.0.2", log)
        assert stale_machines(machines, BoxStore(namespace)) == [
            f"app1, app2 run {namespace}/app 1.0.1 (1.0.2 is built)"
        ]
    finally:
        run(["docker", "rm", "--force", *containers], check=False)
