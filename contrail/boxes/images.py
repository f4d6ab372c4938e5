"""Boxes of the docker provider: images labelled with what they are and what they were built from.

The labels are the record (no side database): `docker image inspect` of a box tells its role,
version, input hash and build time, and a team can read them without Contrail. `<ns>/<role>:latest`
marks the box a role currently uses; every good build also keeps `<ns>/<role>:<version>`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from contrail import BOX_FORMAT
from contrail.tools import docker

LABEL_ROLE = "org.contrail.role"
LABEL_NAMESPACE = "org.contrail.namespace"
LABEL_VERSION = "org.contrail.version"
LABEL_HASH = "org.contrail.input-hash"
LABEL_BUILT_AT = "org.contrail.built-at"
LABEL_FORMAT = "org.contrail.box-format"
CURRENT_TAG = "latest"
FIRST_VERSION = "1.0.0"


@dataclass(frozen=True)
class Box:
    namespace: str
    role: str
    version: str
    input_hash: str
    built_at: str
    size: int
    image_id: str
    tags: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.role}:{self.version}"

    @property
    def current_ref(self) -> str:
        return f"{self.namespace}/{self.role}:{CURRENT_TAG}"

    @property
    def is_current(self) -> bool:
        return self.current_ref in self.tags


def box_labels(namespace: str, role: str, version: str, input_hash: str, built_at: str) -> dict[str, str]:
    return {
        LABEL_ROLE: role,
        LABEL_NAMESPACE: namespace,
        LABEL_VERSION: version,
        LABEL_HASH: input_hash,
        LABEL_BUILT_AT: built_at,
        LABEL_FORMAT: BOX_FORMAT,
    }


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


class StoredBoxes:
    """What every provider's store answers from its list of boxes (sorted by role, then version)."""

    namespace: str
    _boxes: list[Box]

    def all(self) -> list[Box]:
        return list(self._boxes)

    def current(self, role: str) -> Box | None:
        return next((b for b in self._boxes if b.role == role and b.is_current), None)

    def with_hash(self, role: str, input_hash: str) -> Box | None:
        """The newest box of `role` built from exactly these inputs, if any is still on disk."""
        matches = [b for b in self._boxes if b.role == role and b.input_hash == input_hash]
        return matches[-1] if matches else None

    def next_version(self, role: str) -> str:
        versions = self.versions_taken(role)
        if not versions:
            return FIRST_VERSION
        major, minor, patch = (*max(versions), 0, 0, 0)[:3]
        return f"{major}.{minor}.{patch + 1}"

    def versions_taken(self, role: str) -> list[tuple[int, ...]]:
        return [version_key(b.version) for b in self._boxes if b.role == role]


class BoxStore(StoredBoxes):
    """The boxes of one namespace on the local Docker engine, read once and kept current as it changes."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._boxes: list[Box] = []
        self.refresh()

    def refresh(self) -> None:
        boxes = []
        for image in docker.images(LABEL_ROLE):
            labels = image.labels
            if labels.get(LABEL_NAMESPACE) != self.namespace:
                continue
            boxes.append(
                Box(
                    namespace=self.namespace,
                    role=labels[LABEL_ROLE],
                    version=labels.get(LABEL_VERSION, "0"),
                    input_hash=labels.get(LABEL_HASH, ""),
                    built_at=labels.get(LABEL_BUILT_AT, ""),
                    size=image.size,
                    image_id=image.id,
                    tags=image.tags,
                )
            )
        self._boxes = sorted(boxes, key=lambda b: (b.role, version_key(b.version)))

    def promote(self, image_id: str) -> Box:
        """Tag a built-and-checked image with its version and as the role's current box."""
        image = docker.inspect_images([image_id])[0]
        role, version = image.labels[LABEL_ROLE], image.labels[LABEL_VERSION]
        docker.tag(image_id, f"{self.namespace}/{role}:{version}")
        docker.tag(image_id, f"{self.namespace}/{role}:{CURRENT_TAG}")
        self.refresh()
        box = self.current(role)
        assert box is not None and box.image_id == image_id
        return box
