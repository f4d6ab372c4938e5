"""Vagrant's own box catalog format: `metadata.json` per box, and `.box` files.

A catalog is what `vagrant box add URL/metadata.json` reads, so stock Vagrant can use it without
Contrail. Vagrant reads `name`, `description`, `versions[].version`, `versions[].providers[]` (`name`,
`url`, `checksum_type`, `checksum`); it ignores other keys, so each provider entry also records, for
`contrail catalog list`, the box's size and (docker provider) the image it pins by digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any

from contrail.errors import ConfigError

METADATA = "metadata.json"
INDEX = "index.json"
FIRST_VERSION = "1.0.0"
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_BOX_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def parse_version(text: str) -> tuple[int, int, int]:
    match = _SEMVER.match(text)
    if not match:
        raise ConfigError(f"version {text!r} is not MAJOR.MINOR.PATCH", "e.g. --version 1.4.0")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def next_patch(version: str) -> str:
    major, minor, patch = parse_version(version)
    return f"{major}.{minor}.{patch + 1}"


@dataclass
class Provider:
    name: str
    url: str
    checksum: str
    size: int = 0
    image: str = ""  # docker provider: registry/name@sha256:…, what the box's Vagrantfile runs
    image_size: int = 0
    image_id: str = ""  # the image's content id, the same on every machine that has it

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "checksum_type": "sha256",
            "checksum": self.checksum,
            "size": self.size,
        }
        if self.image:
            data |= {"image": self.image, "image_size": self.image_size, "image_id": self.image_id}
        return data


@dataclass
class Version:
    version: str
    providers: list[Provider]
    description: str = ""

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version}
        if self.description:
            data["description"] = self.description
        data["providers"] = [p.to_json() for p in self.providers]
        return data


@dataclass
class BoxMetadata:
    name: str
    description: str = ""
    versions: list[Version] = field(default_factory=list)

    def latest(self) -> Version | None:
        return max(self.versions, key=lambda v: parse_version(v.version), default=None)

    def find(self, version: str) -> Version | None:
        return next((v for v in self.versions if v.version == version), None)

    def with_version(self, new: Version) -> BoxMetadata:
        """A copy with `new` added (replacing a version of the same number), versions newest first."""
        kept = [v for v in self.versions if v.version != new.version]
        ordered = sorted([*kept, new], key=lambda v: parse_version(v.version), reverse=True)
        return BoxMetadata(self.name, self.description, ordered)

    def to_bytes(self) -> bytes:
        data = {
            "name": self.name,
            "description": self.description,
            "versions": [v.to_json() for v in self.versions],
        }
        return (json.dumps(data, indent=2) + "\n").encode()


def parse_metadata(raw: bytes, source: str) -> BoxMetadata:
    """metadata.json → BoxMetadata; anything malformed is one line naming `source`, where and what."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text, not a Vagrant box metadata.json") from None
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{source}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})",
            "restore it from a backup or republish the box with `contrail publish --force`",
        ) from None

    def bad(where: str, what: str) -> ConfigError:
        return ConfigError(f"{source}: {where} {what}", "a Vagrant box catalog entry needs name, versions, providers")

    def text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
        value = obj.get(key, None if required else "")
        if not isinstance(value, str) or (required and not value):
            raise bad(f"{where}.{key}", "must be a non-empty string" if required else "must be a string")
        return value

    if not isinstance(data, dict):
        raise bad("the top level", "must be a JSON object")
    name = text(data, "name", "")
    if not _BOX_NAME.match(name):
        raise bad(".name", f"{name!r} is not <team>/<box>")
    versions_raw = data.get("versions")
    if not isinstance(versions_raw, list):
        raise bad(".versions", "must be a list")
    versions = []
    for i, entry in enumerate(versions_raw):
        where = f".versions[{i}]"
        if not isinstance(entry, dict):
            raise bad(where, "must be an object")
        number = text(entry, "version", where)
        if not _SEMVER.match(number):
            raise bad(f"{where}.version", f"{number!r} is not MAJOR.MINOR.PATCH")
        providers_raw = entry.get("providers")
        if not isinstance(providers_raw, list) or not providers_raw:
            raise bad(f"{where}.providers", "must be a non-empty list")
        providers = []
        for j, p in enumerate(providers_raw):
            pwhere = f"{where}.providers[{j}]"
            if not isinstance(p, dict):
                raise bad(pwhere, "must be an object")
            if p.get("checksum_type") != "sha256":
                raise bad(f"{pwhere}.checksum_type", f"must be 'sha256' (got {p.get('checksum_type')!r})")
            checksum = text(p, "checksum", pwhere)
            if not _SHA256.match(checksum):
                raise bad(f"{pwhere}.checksum", "must be 64 lowercase hex digits")
            size, image_size = p.get("size", 0), p.get("image_size", 0)
            if not isinstance(size, int) or not isinstance(image_size, int):
                raise bad(pwhere, "size and image_size must be integers")
            providers.append(
                Provider(
                    name=text(p, "name", pwhere),
                    url=text(p, "url", pwhere),
                    checksum=checksum,
                    size=size,
                    image=text(p, "image", pwhere, required=False),
                    image_size=image_size,
                    image_id=text(p, "image_id", pwhere, required=False),
                )
            )
        versions.append(Version(number, providers, text(entry, "description", where, required=False)))
    seen = [v.version for v in versions]
    duplicate = next((v for v in seen if seen.count(v) > 1), None)
    if duplicate:
        raise bad(".versions", f"lists version {duplicate} twice")
    return BoxMetadata(name, text(data, "description", "", required=False), versions)


def parse_index(raw: bytes, source: str) -> list[str]:
    """index.json: the box names a catalog holds (static hosts cannot list directories)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        line = getattr(err, "lineno", 1)
        raise ConfigError(f"{source}:{line}: not valid JSON ({err})", "republish any box to rewrite it") from None
    boxes = data.get("boxes") if isinstance(data, dict) else None
    if not isinstance(boxes, list) or not all(isinstance(b, str) and _BOX_NAME.match(b) for b in boxes):
        raise ConfigError(f"{source}: .boxes must be a list of <team>/<box> names", "republish any box to rewrite it")
    return boxes


def index_bytes(boxes: list[str]) -> bytes:
    return (json.dumps({"boxes": sorted(set(boxes))}, indent=2) + "\n").encode()


def box_archive(members: dict[str, bytes]) -> bytes:
    """A .box file (what `vagrant box add` downloads): a gzipped tar of the provider's files (for every
    provider its metadata.json and a Vagrantfile). Byte-for-byte reproducible (fixed mtimes, no gzip
    timestamp), so the same files always give the same checksum."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
