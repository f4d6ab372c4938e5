"""Publish boxes to a team catalog, list it, prune it.

Publishing a docker box: push its image to the registry (the catalog server's own, or --registry),
write a .box whose Vagrantfile pins the image by digest, upload the .box under a name that contains
its checksum (so no referenced file is ever overwritten), read it back and check the checksum, and
only when every role got that far, replace each metadata.json atomically. A publish that fails or is
interrupted before that point removes what it uploaded; metadata.json, the only file Vagrant starts
from, is never touched, so the catalog serves exactly what it served before. (Each box's
metadata.json is one file: a failure between two of them leaves the first box published, whole.)
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from contrail import catalog_format as fmt
from contrail.catalog_store import CatalogURL, HttpStore, Store, open_store
from contrail.errors import ConfigError, ContrailError, ToolFailed
from contrail.images import Box, BoxStore
from contrail.tools import docker

# Test hook: a real failure at the one point where the boxes are uploaded and no metadata.json has
# been written yet (`make test` injects it to prove the catalog stays as it was).
FAULT_ENV = "CONTRAIL_PUBLISH_FAULT"


@dataclass(frozen=True)
class Published:
    box: str
    version: str
    action: str  # "published", "replaced", "unchanged"
    image: str
    checksum: str


@dataclass(frozen=True)
class Row:
    box: str
    version: str
    provider: str
    size: int
    image_size: int
    checksum: str
    image: str
    url: str


@dataclass(frozen=True)
class Pruned:
    box: str
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    images_deleted: int


@dataclass
class _Staged:
    role: str
    name: str
    metadata: fmt.BoxMetadata
    published: Published


def metadata_path(name: str) -> str:
    return f"{name}/{fmt.METADATA}"


def read_index(store: Store) -> list[str]:
    raw = store.read(fmt.INDEX)
    return [] if raw is None else fmt.parse_index(raw, store.location.url(fmt.INDEX))


def read_metadata(store: Store, name: str) -> fmt.BoxMetadata | None:
    path = metadata_path(name)
    raw = store.read(path)
    return None if raw is None else fmt.parse_metadata(raw, store.location.url(path))


def publish(
    location: CatalogURL,
    roles: Sequence[str],
    *,
    namespace: str,
    known_roles: Sequence[str],
    version: str | None = None,
    force: bool = False,
    registry: str | None = None,
    public_url: str | None = None,
    log: Path,
    on_step: Callable[[str, str], None] = lambda role, text: None,
    on_line: Callable[[str, str], None] = lambda role, text: None,
) -> list[Published]:
    store = open_store(location)
    index = read_index(store)
    store.check_writable()  # reachability and credentials, before any work
    if version is not None:
        fmt.parse_version(version)
    boxes = _boxes_to_publish(BoxStore(namespace), roles, namespace, known_roles)
    registry = registry or (location.netloc if location.is_http else None)
    if registry and location.user and registry == location.netloc:
        docker.login(registry, location.user, location.password, log)
    uploaded: list[tuple[str, str]] = []  # (box name, path) of every .box this run wrote
    pushed: list[tuple[str, str]] = []
    committed: set[str] = set()  # boxes whose metadata.json now references what this run uploaded
    try:
        public = public_url.rstrip("/") if public_url else location.base
        staged = [
            _stage(store, box, version, force, registry, public, log, uploaded, pushed, on_step, on_line)
            for box in boxes
        ]
        if os.environ.get(FAULT_ENV) == "before-metadata":
            raise ToolFailed(f"publish stopped by {FAULT_ENV}=before-metadata (a test of the catalog's atomicity)")
        for item in staged:
            if item.published.action != "unchanged":
                on_step(item.role, f"writing {metadata_path(item.name)}")
                store.write(metadata_path(item.name), item.metadata.to_bytes())
                committed.add(item.name)
    except BaseException:
        try:
            for name, path in uploaded:
                if name not in committed:
                    store.delete(path)
            _delete_unreferenced_images(store, pushed)
        except ContrailError:
            pass  # the catalog went away too; what was uploaded is unreferenced, `catalog prune` removes it
        raise
    names = sorted(set(index) | {s.name for s in staged})
    if names != sorted(index):
        store.write(fmt.INDEX, fmt.index_bytes(names))
    return [s.published for s in staged]


def _boxes_to_publish(store: BoxStore, roles: Sequence[str], namespace: str, known: Sequence[str]) -> list[Box]:
    if not roles:
        current = [b for b in (store.current(r) for r in known) if b is not None]
        if not current:
            raise ConfigError(f"no boxes are built (namespace {namespace})", "run `contrail build-boxes` first")
        return current
    boxes = []
    for role in dict.fromkeys(roles):
        box = store.current(role)
        if box is None:
            if role not in known:
                raise ConfigError(f"unknown role {role!r}", f"known roles: {', '.join(sorted(known))}")
            raise ConfigError(
                f"no {role} box is built (namespace {namespace})", f"run `contrail build-boxes {role}` first"
            )
        boxes.append(box)
    return boxes


def _stage(
    store: Store,
    box: Box,
    version: str | None,
    force: bool,
    registry: str | None,
    public: str,
    log: Path,
    uploaded: list[tuple[str, str]],
    pushed: list[tuple[str, str]],
    on_step: Callable[[str, str], None],
    on_line: Callable[[str, str], None],
) -> _Staged:
    name = f"{box.namespace}/{box.role}"
    metadata = read_metadata(store, name) or fmt.BoxMetadata(name, f"Contrail {box.role} box (team {box.namespace})")
    latest = metadata.latest()
    latest_docker = latest.provider("docker") if latest else None
    if version is None:
        if latest_docker and latest_docker.image_id == box.image_id and not force:
            on_step(box.role, f"{name} {latest.version} already has this image")  # type: ignore[union-attr]
            return _Staged(
                box.role,
                name,
                metadata,
                Published(name, latest.version, "unchanged", latest_docker.image, latest_docker.checksum),  # type: ignore[union-attr]
            )
        number = fmt.next_patch(latest.version) if latest else fmt.FIRST_VERSION
    else:
        number = version
        if metadata.find(number) and not force:
            raise ConfigError(
                f"{name} {number} is already in the catalog",
                "pass --force to replace it, or leave out --version to publish the next patch version",
            )
        if latest and fmt.parse_version(number) < fmt.parse_version(latest.version) and not metadata.find(number):
            raise ConfigError(
                f"{name} {number} is older than the catalog's latest, {latest.version}",
                "versions only go up: choose a higher --version",
            )
    if registry:
        on_step(box.role, f"pushing the image to {registry}")
        target = f"{registry}/{name}:{number}"
        docker.tag(box.image_id, target)
        try:
            digest = docker.push(target, log, lambda line: on_line(box.role, line))
        finally:
            docker.remove_image(target)  # only the tag: the box keeps its own
        image = f"{registry}/{name}@{digest}"
        if registry == store.location.netloc:
            pushed.append((name, digest))
    else:
        image = box.image_id  # a file:// catalog without a registry serves this machine only
    data = fmt.docker_box(image, f"{name} {number}: Contrail {box.role} box, input hash {box.input_hash[:12]}")
    checksum = fmt.sha256(data)
    path = f"{name}/{number}/docker-{checksum[:16]}.box"
    on_step(box.role, f"uploading {path}")
    uploaded.append((name, path))
    store.write(path, data)
    echoed = store.read(path)
    if echoed is None or fmt.sha256(echoed) != checksum:
        raise ToolFailed(f"{store.location.url(path)} does not read back with the checksum just written")
    provider = fmt.Provider(
        name="docker",
        url=f"{public}/{path}",
        checksum=checksum,
        size=len(data),
        image=image,
        image_size=box.size,
        image_id=box.image_id,
    )
    action = "replaced" if metadata.find(number) else "published"
    new_version = fmt.Version(number, [provider], f"built {box.built_at}, input hash {box.input_hash[:12]}")
    return _Staged(box.role, name, metadata.with_version(new_version), Published(name, number, action, image, checksum))


def _all_metadata(store: Store) -> Iterator[tuple[str, fmt.BoxMetadata]]:
    """Every box the catalog's index lists and that has a metadata.json: (its path name, metadata)."""
    for name in read_index(store):
        metadata = read_metadata(store, name)
        if metadata is not None:
            yield name, metadata


def rows(location: CatalogURL) -> list[Row]:
    return [
        Row(name, v.version, p.name, p.size, p.image_size, p.checksum, p.image, p.url)
        for name, metadata in _all_metadata(open_store(location))
        for v in metadata.versions
        for p in v.providers
    ]


def prune(location: CatalogURL, keep: int) -> list[Pruned]:
    """Keep the newest `keep` versions of every box: metadata first (atomically), then the files and
    registry manifests nothing references any more, then leftovers of interrupted publishes."""
    if keep < 1:
        raise ConfigError(f"--keep must be at least 1 (got {keep})")
    store = open_store(location)
    report = []
    for name, metadata in list(_all_metadata(store)):
        ordered = sorted(metadata.versions, key=lambda v: fmt.parse_version(v.version), reverse=True)
        kept, dropped = ordered[:keep], ordered[keep:]
        if dropped:
            store.write(metadata_path(name), fmt.BoxMetadata(name, metadata.description, kept).to_bytes())
        referenced = {_relative(name, p.url) for v in kept for p in v.providers}
        for path in _box_files(store, name):
            if path not in referenced:
                store.delete(path)
        ours = f"{store.location.netloc}/{name}@"  # images in the catalog server's own registry
        kept_digests = {p.image.rpartition("@")[2] for v in kept for p in v.providers}
        stale = {
            (name, p.image.rpartition("@")[2])
            for v in dropped
            for p in v.providers
            if p.image.startswith(ours) and p.image.rpartition("@")[2] not in kept_digests
        }
        deleted = _delete_images(store, stale)
        report.append(Pruned(name, tuple(v.version for v in dropped), tuple(v.version for v in kept), deleted))
    return report


def _box_files(store: Store, name: str) -> list[str]:
    """Every .box file under the box's folder (servers that cannot list folders: none)."""
    files = []
    for entry in store.listdir(name) or []:
        if entry.endswith("/"):
            files += [f"{name}/{entry}{f}" for f in store.listdir(f"{name}/{entry}") or [] if f.endswith(".box")]
    return files


def _relative(name: str, url: str) -> str:
    """A box file's path inside the catalog, from its URL (whatever host serves the catalog)."""
    path = urllib.parse.urlsplit(url).path
    start = path.rfind(f"/{name}/")
    return path[start + 1 :] if start >= 0 else path


def _delete_unreferenced_images(store: Store, pushed: list[tuple[str, str]]) -> None:
    """After a failed publish: the manifests it pushed that no published version uses."""
    if not pushed:
        return
    referenced = set()
    for name in {n for n, _ in pushed}:
        metadata = read_metadata(store, name)
        for v in metadata.versions if metadata else []:
            referenced |= {p.image.rpartition("@")[2] for p in v.providers}
    _delete_images(store, {(n, d) for n, d in pushed if d not in referenced})


def _delete_images(store: Store, manifests: set[tuple[str, str]]) -> int:
    """Delete manifests from the catalog's own registry (/v2/ on the same server); their layers are
    reclaimed by the registry's garbage collection when `contrail catalog serve` next starts."""
    if not isinstance(store, HttpStore) or urllib.parse.urlsplit(store.location.base).path not in ("", "/"):
        return 0
    deleted = 0
    for name, digest in sorted(manifests):
        status, _ = store.request("DELETE", f"v2/{name}/manifests/{digest}")
        if status in (202, 200):
            deleted += 1
        elif status != 404:
            raise ContrailError(f"the registry refused to delete {name}@{digest} (HTTP {status})")
    return deleted
