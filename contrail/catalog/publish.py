"""Publish boxes to a team catalog, list it, prune it.

Publishing a docker box: push its image to the registry (the catalog server's own, or --registry),
write a .box whose Vagrantfile pins the image by digest, upload the .box under a name that contains
its checksum (so no referenced file is ever overwritten), read it back and check the checksum, and
only when every role got that far, replace each metadata.json atomically. A VM box (libvirt, VirtualBox)
is uploaded as built, the same way. A role's boxes for every provider share a version: a provider published
to a catalog whose latest version lacks it joins that version. A publish that fails or is
interrupted before that point removes what it uploaded; metadata.json, the only file Vagrant starts
from, is never touched, so the catalog serves exactly what it served before. (Each box's
metadata.json is one file: a failure between two of them leaves the first box published, whole.)
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from contrail.boxes.images import Box, BoxStore
from contrail.boxes.vmstore import RECORD, VmBoxStore, box_file
from contrail.catalog import metadata as fmt
from contrail.catalog.store import CatalogURL, HttpStore, Store, open_store
from contrail.digest import file_sha256
from contrail.environment.providers.docker import DockerProvider
from contrail.errors import ConfigError, ContrailError, ToolFailed
from contrail.tools import docker

PROVIDERS = ("docker", "libvirt", "virtualbox")


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
    provider: str = "docker",
    log: Path,
    on_step: Callable[[str, str], None] = lambda role, text: None,
    on_line: Callable[[str, str], None] = lambda role, text: None,
) -> list[Published]:
    store = open_store(location)
    index = read_index(store)
    store.check_writable()  # reachability and credentials, before any work
    if version is not None:
        fmt.parse_version(version)
    if provider not in PROVIDERS:
        raise ConfigError(f"provider {provider!r} has no boxes to publish", f"use --provider {' or '.join(PROVIDERS)}")
    local: BoxStore | VmBoxStore = BoxStore(namespace) if provider == "docker" else VmBoxStore(namespace, provider)
    boxes = _boxes_to_publish(local, roles, namespace, known_roles, provider)
    registry = registry or (location.netloc if location.is_http else None)
    if provider == "docker" and registry and location.user and registry == location.netloc:
        docker.login(registry, location.user, location.password, log)
    public = public_url.rstrip("/") if public_url else location.base
    request = _Request(version, force, registry, public, log, on_step, on_line)

    def stage(uploads: _Uploads, box: Box, request: _Request) -> _Staged:
        return _stage(uploads, box, request) if provider == "docker" else _stage_vm(uploads, box, request, provider)

    with _Uploads(store) as uploads:
        staged = [stage(uploads, box, request) for box in boxes]
        for item in staged:
            if item.published.action != "unchanged":
                on_step(item.role, f"writing {metadata_path(item.name)}")
                uploads.commit(item.name, item.metadata)
    names = sorted(set(index) | {s.name for s in staged})
    if names != sorted(index):
        store.write(fmt.INDEX, fmt.index_bytes(names))
    return [s.published for s in staged]


@dataclass(frozen=True)
class _Request:
    """What one `contrail publish` asks of every box it publishes."""

    version: str | None
    force: bool
    registry: str | None
    public: str  # the catalog's URL as teammates read it
    log: Path
    on_step: Callable[[str, str], None]
    on_line: Callable[[str, str], None]


class _Uploads:
    """What one publish writes to the catalog (.box files, manifests in the catalog's own registry) and
    which boxes' metadata.json it has rewritten since (committed). Leaving the `with` block by an
    exception — a failure, Ctrl-C — deletes everything no metadata.json references, as pipx's
    `preserve_venv` restores a venv that a failed upgrade touched."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._files: list[tuple[str, str]] = []  # (box name, path) of every .box this run wrote
        self._images: list[tuple[str, str]] = []  # (box name, digest) pushed to the catalog's own registry
        self._committed: set[str] = set()  # boxes whose metadata.json now references what this run uploaded

    def __enter__(self) -> _Uploads:
        return self

    def write_box(self, name: str, path: str, data: bytes | Path) -> None:
        """A .box written: a docker box's bytes, or a VM box's file (streamed)."""
        self._files.append((name, path))  # first: a write that fails half way is removed too
        if isinstance(data, Path):
            self.store.write_file(path, data)
        else:
            self.store.write(path, data)

    def pushed(self, name: str, digest: str) -> None:
        self._images.append((name, digest))

    def commit(self, name: str, metadata: fmt.BoxMetadata) -> None:
        """Replace the box's metadata.json (atomically): what it references is published."""
        self.store.write(metadata_path(name), metadata.to_bytes())
        self._committed.add(name)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: object) -> None:
        if error is None:
            return
        try:
            for name, path in self._files:
                if name not in self._committed:
                    self.store.delete(path)
            _delete_unreferenced_images(self.store, self._images)
        except ContrailError:
            pass  # the catalog went away too; what was uploaded is unreferenced, `catalog prune` removes it


def _boxes_to_publish(
    store: BoxStore | VmBoxStore, roles: Sequence[str], namespace: str, known: Sequence[str], provider: str
) -> list[Box]:
    build = "contrail build-boxes" + ("" if provider == "docker" else f" --provider {provider}")
    if not roles:
        current = [b for b in (store.current(r) for r in known) if b is not None]
        if not current:
            raise ConfigError(f"no {provider} boxes are built (namespace {namespace})", f"run `{build}` first")
        return current
    boxes = []
    for role in dict.fromkeys(roles):
        box = store.current(role)
        if box is None:
            if role not in known:
                raise ConfigError(f"unknown role {role!r}", f"known roles: {', '.join(sorted(known))}")
            raise ConfigError(
                f"no {role} box is built for the {provider} provider (namespace {namespace})",
                f"run `{build} {role}` first",
            )
        boxes.append(box)
    return boxes


def _catalog_entry(store: Store, box: Box) -> tuple[str, fmt.BoxMetadata]:
    """The box's name in the catalog and its metadata there (new and empty when it has none yet)."""
    name = f"{box.namespace}/{box.role}"
    return name, read_metadata(store, name) or fmt.BoxMetadata(name, f"Contrail {box.role} box (team {box.namespace})")


def _stage(uploads: _Uploads, box: Box, request: _Request) -> _Staged:
    """The box's image pushed and its .box uploaded and read back; its new metadata, not yet written."""
    name, metadata = _catalog_entry(uploads.store, box)
    latest = metadata.latest()
    latest_docker = latest.provider("docker") if latest else None
    same = latest and latest_docker and latest_docker.image_id == box.image_id
    if same and latest and latest_docker and request.version is None and not request.force:
        request.on_step(box.role, f"{name} {latest.version} already has this image")
        unchanged = Published(name, latest.version, "unchanged", latest_docker.image, latest_docker.checksum)
        return _Staged(box.role, name, metadata, unchanged)
    number = _version_for(name, metadata, "docker", request)
    image = _push_image(uploads, box, name, number, request)
    description = f"{name} {number}: Contrail {box.role} box, input hash {box.input_hash[:12]}"
    data = fmt.box_archive(DockerProvider().box_files(image, description))
    checksum = fmt.sha256(data)
    path = f"{name}/{number}/docker-{checksum[:16]}.box"
    _upload(uploads, box.role, name, path, data, checksum, request)
    provider = fmt.Provider(
        name="docker",
        url=f"{request.public}/{path}",
        checksum=checksum,
        size=len(data),
        image=image,
        image_size=box.size,
        image_id=box.image_id,
    )
    return _added(box, name, metadata, number, provider, image)


def _upload(
    uploads: _Uploads, role: str, name: str, path: str, data: bytes | Path, checksum: str, request: _Request
) -> None:
    """A .box (bytes, or a file streamed) written to the catalog and read back with its checksum (a store
    that stores something else fails here, before any metadata.json references it)."""
    size = data.stat().st_size if isinstance(data, Path) else len(data)
    request.on_step(role, f"uploading {path} ({size / 1e6:.0f} MB)")
    uploads.write_box(name, path, data)
    if uploads.store.sha256(path) != checksum:
        raise ToolFailed(f"{uploads.store.location.url(path)} does not read back with the checksum just written")


def _added(box: Box, name: str, metadata: fmt.BoxMetadata, number: str, provider: fmt.Provider, image: str) -> _Staged:
    """`provider` in version `number` of the box, beside the version's other providers."""
    existing = metadata.find(number)
    action = "replaced" if existing and existing.provider(provider.name) else "published"
    others = [p for p in existing.providers if p.name != provider.name] if existing else []
    description = existing.description if existing else f"built {box.built_at}, input hash {box.input_hash[:12]}"
    new_version = fmt.Version(number, [*others, provider], description)
    published = Published(name, number, action, image, provider.checksum)
    return _Staged(box.role, name, metadata.with_version(new_version), published)


def _version_for(name: str, metadata: fmt.BoxMetadata, provider: str, request: _Request) -> str:
    """--version (checked), else the latest version when it lacks this provider (the role's other
    provider published it), else the next patch version."""
    if request.version is not None:
        _check_version(name, metadata, request.version, request.force, provider)
        return request.version
    latest = metadata.latest()
    if latest is None:
        return fmt.FIRST_VERSION
    if latest.provider(provider) is None:
        return latest.version
    return fmt.next_patch(latest.version)


def _stage_vm(uploads: _Uploads, box: Box, request: _Request, provider: str) -> _Staged:
    """A VM box's .box (libvirt: the VM's disk; VirtualBox: its OVF and disk; metadata.json, Vagrantfile)
    uploaded as built and read back; its new metadata, not yet written."""
    name, metadata = _catalog_entry(uploads.store, box)
    record = json.loads((Path(box.image_id) / RECORD).read_text())
    checksum = record["box_sha256"]
    latest = metadata.latest()
    latest_same_provider = latest.provider(provider) if latest else None
    same = latest and latest_same_provider and latest_same_provider.checksum == checksum
    if same and latest and request.version is None and not request.force:
        request.on_step(box.role, f"{name} {latest.version} already has this {provider} box")
        return _Staged(box.role, name, metadata, Published(name, latest.version, "unchanged", "", checksum))
    number = _version_for(name, metadata, provider, request)
    packaged = Path(box.image_id) / box_file(provider)
    if file_sha256(packaged) != checksum:
        raise ToolFailed(f"{packaged} no longer has the checksum it was built with", "rebuild it")
    path = f"{name}/{number}/{provider}-{checksum[:16]}.box"
    _upload(uploads, box.role, name, path, packaged, checksum, request)
    size = packaged.stat().st_size
    entry = fmt.Provider(name=provider, url=f"{request.public}/{path}", checksum=checksum, size=size)
    return _added(box, name, metadata, number, entry, "")


def _check_version(name: str, metadata: fmt.BoxMetadata, number: str, force: bool, provider: str) -> None:
    """--version: new (or without this provider yet), or replaced with --force; never older than the
    catalog's latest."""
    latest = metadata.latest()
    existing = metadata.find(number)
    if existing and existing.provider(provider) and not force:
        raise ConfigError(
            f"{name} {number} is already in the catalog for the {provider} provider",
            "pass --force to replace it, or leave out --version to publish the next patch version",
        )
    if latest and fmt.parse_version(number) < fmt.parse_version(latest.version) and not metadata.find(number):
        raise ConfigError(
            f"{name} {number} is older than the catalog's latest, {latest.version}",
            "versions only go up: choose a higher --version",
        )


def _push_image(uploads: _Uploads, box: Box, name: str, number: str, request: _Request) -> str:
    """The image reference the .box pins: pushed to the registry by digest, or (a file:// catalog
    without a registry, which serves this machine only) the local image id."""
    if not request.registry:
        return box.image_id
    request.on_step(box.role, f"pushing the image to {request.registry}")
    target = f"{request.registry}/{name}:{number}"
    docker.tag(box.image_id, target)
    try:
        digest = docker.push(target, request.log, lambda line: request.on_line(box.role, line))
    finally:
        docker.remove_image(target)  # only the tag: the box keeps its own
    if request.registry == uploads.store.location.netloc:
        uploads.pushed(name, digest)
    return f"{request.registry}/{name}@{digest}"


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
