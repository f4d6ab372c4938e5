"""Input hashes: what a box is built from, so an unchanged role is never rebuilt (Packer has no cache).

A role's hash covers the shared template, its var file, each of its scripts (name and bytes, in
order), the files uploaded to every box (provision_scripts/contrail-files), the base image id, the
Vagrant key put in the box, what the provider's builder packs into every box (a VM box's Vagrantfile)
and Contrail's box format. A change to one role's script changes only the
hashes of the roles that list that script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from contrail import BOX_FORMAT


def digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def role_hash(
    template: Path,
    var_file: Path,
    scripts: Iterable[Path],
    shared_files: Path,
    base_image_id: str,
    pubkey: str,
    packaging: bytes = b"",
) -> str:
    parts = [BOX_FORMAT.encode(), template.read_bytes(), var_file.read_bytes()]
    for script in scripts:
        parts += [script.name.encode(), script.read_bytes()]
    for path in sorted(p for p in shared_files.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        parts += [str(path.relative_to(shared_files)).encode(), path.read_bytes()]
    parts += [base_image_id.encode(), pubkey.encode()]
    if packaging:
        parts.append(packaging)
    return digest(parts)


def base_hash(spec_bytes: bytes) -> str:
    return digest([BOX_FORMAT.encode(), spec_bytes])
