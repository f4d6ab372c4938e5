"""The base image: debootstrap of boxes/base.toml, imported into Docker as `<ns>/base:<version>`.

Rebuilt only when base.toml or the box format changes; every role's input hash includes the base
image id, so a new base rebuilds every role.
"""

from __future__ import annotations

import re
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contrail.boxes import inputs
from contrail.boxes.images import Box, BoxStore, box_labels, utc_now
from contrail.errors import ConfigError
from contrail.tools import apt_sources, docker, tar
from contrail.tools.debootstrap import debootstrap
from contrail.workspace import Workspace

BASE_ROLE = "base"


@dataclass(frozen=True)
class BaseSpec:
    suite: str
    variant: str
    packages: tuple[str, ...]
    exclude: tuple[str, ...]  # path globs dpkg never installs (docs, man pages, translations)
    input_hash: str
    vm_packages: tuple[str, ...] = ()  # what the VM base adds (kernel, bootloader, network): [vm] packages


# An exclude glob names paths under the root filesystem being slimmed and becomes a dpkg config line:
# no '..' (nothing outside the root), no whitespace (no second config line).
_EXCLUDE = re.compile(r"(?!.*/\.\.(/|$))/[A-Za-z0-9_.*?\[\]/+-]+")


def load_spec(path: Path) -> BaseSpec:
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from None
    suite, variant, packages = data.get("suite"), data.get("variant", "minbase"), data.get("packages", [])
    if not isinstance(suite, str) or not isinstance(variant, str):
        raise ConfigError(f"{path}: 'suite' and 'variant' must be strings")
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise ConfigError(f"{path}: 'packages' must be a list of package names")
    exclude = data.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, str) and _EXCLUDE.fullmatch(e) for e in exclude):
        raise ConfigError(
            f"{path}: 'exclude' must be a list of absolute path globs inside the root filesystem "
            "(letters, digits, / . _ - + * ? [ ], no '..')"
        )
    vm = data.get("vm", {})
    vm_packages = vm.get("packages", []) if isinstance(vm, dict) else None
    if not isinstance(vm_packages, list) or not all(isinstance(p, str) for p in vm_packages):
        raise ConfigError(f"{path}: '[vm] packages' must be a list of package names")
    return BaseSpec(suite, variant, tuple(packages), tuple(exclude), inputs.base_hash(raw), tuple(vm_packages))


def ensure_base(
    ws: Workspace,
    store: BoxStore,
    spec: BaseSpec,
    *,
    http_proxy: str | None,
    on_line: Callable[[str], None],
) -> tuple[Box, bool]:
    """The base box for `spec` — (box, built?) — building it only when no image has its hash."""
    existing = store.with_hash(BASE_ROLE, spec.input_hash)
    if existing:
        if not existing.is_current:
            existing = store.promote(existing.image_id)
        return existing, False
    mirror = apt_sources.host_mirror()
    log = ws.new_log("build-base")
    version = store.next_version(BASE_ROLE)
    labels = box_labels(store.namespace, BASE_ROLE, version, spec.input_hash, utc_now())
    with tempfile.TemporaryDirectory(prefix="contrail-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        debootstrap(
            rootfs,
            suite=spec.suite,
            mirror=mirror,
            variant=spec.variant,
            include=spec.packages,
            log=log,
            on_line=on_line,
            http_proxy=http_proxy,
        )
        slim(rootfs, spec.exclude)
        on_line("importing the root filesystem into Docker")
        changes = [f"LABEL {k}={v}" for k, v in labels.items()] + ['CMD ["/bin/bash"]']
        with tar.archive(rootfs, log) as stream:
            image_id = docker.import_tar(stream, f"{store.namespace}/{BASE_ROLE}:{version}", changes, log)
    return store.promote(image_id), True


def slim(rootfs: Path, exclude: tuple[str, ...]) -> None:
    """What no box needs: debootstrap's package cache and lists (every role build runs apt-get update),
    and the `exclude` paths, removed now and kept out of every later install by a dpkg config (as in
    Debian's own slim images; copyright files stay). Smaller boxes build, publish and pull faster."""
    for leftover in (*rootfs.glob("var/cache/apt/archives/*.deb"), *rootfs.glob("var/lib/apt/lists/*_*")):
        leftover.unlink()
    config = ["# Written by Contrail's base build (boxes/base.toml: exclude)."]
    config += [f"path-exclude {pattern}" for pattern in exclude]
    config.append("path-include /usr/share/doc/*/copyright")
    dpkg = rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "contrail-exclude"
    dpkg.write_text("\n".join(config) + "\n")
    doc = rootfs / "usr" / "share" / "doc"
    root = rootfs.resolve()
    for pattern in exclude:
        for path in rootfs.glob(pattern.lstrip("/")):
            if not path.parent.resolve().is_relative_to(root):  # a symlinked directory pointing out of it
                continue
            files = [path] if path.is_symlink() or not path.is_dir() else [*path.rglob("*"), path]
            for file in sorted(files, key=lambda f: len(f.parts), reverse=True):  # children first
                if file.name == "copyright" and file.parent.parent == doc:
                    continue
                if file.is_dir() and not file.is_symlink():
                    if not any(file.iterdir()):
                        file.rmdir()
                else:
                    file.unlink()
