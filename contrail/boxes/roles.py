"""The role catalog, loaded from data: boxes/roles/<role>.pkrvars.hcl + provision_scripts/.

A role is whatever var file exists; the code never lists roles. The keys a var file may set are the
variables the shared template declares, less the ones Contrail computes for each build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from contrail.boxes import hclvars
from contrail.errors import ConfigError
from contrail.tools import packer
from contrail.workspace import Workspace

# Variables of boxes/box.pkr.hcl that Contrail sets itself; a role file must not.
COMPUTED = frozenset(
    {
        "base_image",
        "scripts_dir",
        "labels",
        "apt_proxy",
        "vagrant_pubkey",
        "wheel_dir",
        "base_disk",
        "base_disk_checksum",
        "output_dir",
        "accelerator",
        "ssh_private_key",
    }
)
REQUIRED = ("role", "description", "scripts", "smoke")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_VARIABLE = re.compile(r'^variable\s+"([A-Za-z0-9_-]+)"', re.MULTILINE)
SUFFIX = ".pkrvars.hcl"
T = TypeVar("T")


@dataclass(frozen=True)
class Role:
    name: str
    var_file: Path
    description: str
    scripts: tuple[Path, ...]
    smoke: str
    ports: tuple[int, ...] = ()
    environment: tuple[str, ...] = ()
    build_by_default: bool = True
    wheels: tuple[str, ...] = ()  # pip specs downloaded on the host (boxes cannot reach PyPI)


@dataclass(frozen=True)
class RoleCatalog:
    roles: Mapping[str, Role]

    def select(self, names: Iterable[str]) -> list[Role]:
        """The named roles, or every role built by default when no name is given."""
        names = list(dict.fromkeys(names))
        unknown = [n for n in names if n not in self.roles]
        if unknown:
            raise ConfigError(
                f"unknown role {', '.join(repr(n) for n in unknown)}",
                f"known roles: {', '.join(sorted(self.roles))}",
            )
        if names:
            return [self.roles[n] for n in names]
        return [r for r in self.roles.values() if r.build_by_default]


def load_catalog(ws: Workspace) -> RoleCatalog:
    allowed = set(_VARIABLE.findall(ws.template.read_text())) - COMPUTED
    files = sorted(ws.roles_dir.glob(f"*{SUFFIX}"))
    if not files:
        raise ConfigError(f"{ws.roles_dir}: no role var files (*{SUFFIX})")
    roles = [load_role(ws, f, allowed) for f in files]
    return RoleCatalog({r.name: r for r in roles})


def load_role(ws: Workspace, path: Path, allowed: set[str]) -> Role:
    try:
        attrs = hclvars.parse(path.read_text())
    except hclvars.HclError as err:
        # Packer's own message for real syntax errors; ours for valid HCL outside the literal subset.
        packer.validate(ws.template, [path], placeholders())
        raise ConfigError(f"{path}:{err.line}: {err.message}") from None
    fields = _Fields(path, attrs)
    for key in attrs:
        if key not in allowed:
            raise fields.error(key, f"unknown key {key!r} (known: {', '.join(sorted(allowed))})")
    for key in REQUIRED:
        if key not in attrs:
            raise fields.error(key, f"missing {key!r}")
    name = fields.get("role", str)
    if name != path.name.removesuffix(SUFFIX) or not _NAME.match(name):
        raise fields.error("role", f"role {name!r} must match the file name and be lowercase letters, digits and '-'")
    scripts = tuple(ws.scripts_dir / s for s in fields.get_list("scripts", str))
    for script in scripts:
        if not script.is_file():
            raise fields.error("scripts", f"script {script.name!r} not found in {ws.scripts_dir}")
    return Role(
        name=name,
        var_file=path,
        description=fields.get("description", str),
        scripts=scripts,
        smoke=fields.get("smoke", str),
        ports=tuple(fields.get_list("ports", int)),
        environment=tuple(fields.get_list("environment", str)),
        build_by_default=fields.get("build_by_default", bool, default=True),
        wheels=tuple(fields.get_list("wheels", str)),
    )


@dataclass(frozen=True)
class _Fields:
    """Typed access to a role file's attributes; errors point at the attribute's line."""

    path: Path
    attrs: Mapping[str, hclvars.Attribute]

    def error(self, key: str, message: str) -> ConfigError:
        line = self.attrs[key].line if key in self.attrs else 1
        return ConfigError(f"{self.path}:{line}: {message}")

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        value = self.attrs[key].value if key in self.attrs else default
        if not _is(value, kind):
            raise self.error(key, f"{key!r} must be a {kind.__name__}")
        return value  # type: ignore[return-value]

    def get_list(self, key: str, kind: type[T]) -> list[T]:
        value = self.attrs[key].value if key in self.attrs else []
        if not isinstance(value, list) or not all(_is(v, kind) for v in value):
            raise self.error(key, f"{key!r} must be a list of {kind.__name__}s")
        return value  # type: ignore[return-value]


def _is(value: object, kind: type) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def placeholders() -> dict[str, str]:
    """Values for the computed variables, so `packer validate` judges only the role file."""
    return {
        "base_image": "x",
        "base_disk": "/x.qcow2",
        "base_ovf": "/x.ovf",
        "scripts_dir": "/nonexistent",
        "labels": "{}",
        "vagrant_pubkey": "x",
        "wheel_dir": "/x",
    }
