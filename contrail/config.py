"""contrail.toml → typed, validated settings of one development environment.

Every error names the file and line of the offending key (or table) and says what is allowed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contrail.errors import ConfigError

FILENAME = "contrail.toml"
MAX_NODES = 20
_ONE_CONSTRAINT = r"\s*(?:(?:=|!=|>=|<=|>|<|~>)\s*)?\d+(?:\.\d+){0,2}\s*"
_CONSTRAINT = re.compile(rf"{_ONE_CONSTRAINT}(?:,{_ONE_CONSTRAINT})*")
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# Values that reach a Vagrantfile (Ruby), a shell script, SQL or a Python config are checked against one
# of these when the file is read (a full match), so a rendered file never has to quote them:
# (pattern, what is allowed).
SLUG = (re.compile(r"[a-z0-9][a-z0-9-]{0,30}"), "must be lowercase letters, digits and '-' (≤ 31)")
IDENTIFIER = (
    re.compile(r"[a-z_][a-z0-9_]{0,62}"),
    "must be lowercase letters, digits and '_', not starting with a digit (≤ 63): an identifier as "
    "PostgreSQL and MariaDB take it unquoted",
)
NAMESPACE = (re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*"), "must be lowercase letters, digits and . _ - (a Docker name)")
RELATIVE_PATH = (
    re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]{0,199}"),
    "must be a relative path of letters, digits and . _ / -",
)
HTTP_URL = (re.compile(r"(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?)?"), "must be http://HOST:PORT (or empty)")
BRANCH = (
    re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,99}"),
    "must be a git branch name (letters, digits, . _ / -)",
)
_CATALOG = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?|file:///[A-Za-z0-9._~%/-]*")
WSGI = (re.compile(r"|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*"), "must look like 'package.module:callable'")
WAR = (re.compile(r"|[A-Za-z0-9_.][A-Za-z0-9_./-]{0,199}\.war"), "must be the relative path of a .war file")
HEAP = (re.compile(r"[1-9][0-9]{0,5}[mg]"), "must be a JVM heap size such as '256m' or '1g'")
APP_SERVERS = {"django": "gunicorn", "wsgi": "gunicorn", "tomcat": "tomcat"}  # app.framework → what serves it
SETTINGS = (re.compile(rf"|{MODULE_NAME.pattern}"), "must be a dotted module name, e.g. 'mysite.settings'")


@dataclass(frozen=True)
class Field:
    kind: type
    default: Any = None  # None: required
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    pattern: tuple[re.Pattern[str], str] | None = None  # (a full match of a string, or of each list item; why)


VM_MEMORY_MB = {"proxy": 384, "web": 384, "app": 768, "db": 1024, "cache": 384}

SCHEMA: dict[str, dict[str, Field]] = {
    "environment": {
        "name": Field(str, pattern=SLUG),
        "provider": Field(str, "docker", choices=("docker", "libvirt", "virtualbox")),
        "host_port": Field(int, 8080, 1024, 65535),
        "stats_port": Field(int, 8404, 1024, 65535),
        "subnet": Field(str, ""),
        "namespace": Field(str, "contrail", pattern=NAMESPACE),
        "apt_cache": Field(str, "", pattern=HTTP_URL),
    },
    "boxes": {"catalog": Field(str, ""), "version": Field(str, "")},
    "topology": {
        "web": Field(int, 2, 1, MAX_NODES),
        "app": Field(int, 3, 1, MAX_NODES),
        "cache": Field(int, 1, 0, 1),
    },
    "app": {
        "path": Field(str, ".", pattern=RELATIVE_PATH),
        "framework": Field(str, "wsgi", choices=tuple(APP_SERVERS)),
        "wsgi": Field(str, "", pattern=WSGI),
        "django_settings": Field(str, "", pattern=SETTINGS),
        "requirements": Field(str, "requirements.txt", pattern=RELATIVE_PATH),
        "workers": Field(int, 2, 1, 16),
        "war": Field(str, "", pattern=WAR),
        "heap": Field(str, "256m", pattern=HEAP),
    },
    "db": {
        "engine": Field(str, "postgresql", choices=("postgresql", "mysql")),
        "name": Field(str, "app", pattern=IDENTIFIER),
        "user": Field(str, "app", pattern=IDENTIFIER),
    },
    "cache": {"engine": Field(str, "redis", choices=("redis", "memcached"))},
    # Memory (MB) of each role's machines when they are VMs (libvirt); containers share the host's.
    # (keys `<role>_mb`: never the same line as topology's `web = …`, `app = …`)
    "memory": {f"{role}_mb": Field(int, mb, 128, 65536) for role, mb in VM_MEMORY_MB.items()},
}


@dataclass(frozen=True)
class AppSettings:
    path: Path  # absolute
    framework: str
    wsgi: str
    django_settings: str
    requirements: Path  # absolute
    workers: int
    war: Path | None = None  # absolute: the .war a Tomcat app server runs (framework = "tomcat")
    heap: str = "256m"  # a Tomcat app server's JVM heap (-Xmx)

    @property
    def server(self) -> str:
        """What runs the app on an app server: gunicorn or tomcat."""
        return APP_SERVERS[self.framework]


@dataclass(frozen=True)
class DevConfig:
    file: Path
    name: str
    provider: str
    host_port: int
    stats_port: int
    subnet: ipaddress.IPv4Network
    namespace: str
    web: int
    app_nodes: int
    app: AppSettings
    db_engine: str
    db_name: str
    db_user: str
    catalog: str = ""  # a team box catalog's URL (no credentials); "" = this machine's own boxes
    apt_cache: str = ""  # an apt-cacher-ng the machines fetch packages through (the team's), as the host reaches it
    box_version: str = ""  # a Vagrant version constraint for the catalog's boxes, e.g. "~> 1.0"
    cache_nodes: int = 1  # 0 or 1: the shared cache node
    cache_engine: str = "redis"  # or "memcached"
    memory: tuple[tuple[str, int], ...] = tuple(VM_MEMORY_MB.items())  # role → MB, for VM providers

    @property
    def project_dir(self) -> Path:
        return self.file.parent


def slug(name: str) -> str:
    """A valid environment name made from a directory's name."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:31] or "devenv"


def default_subnet(name: str) -> str:
    """A /24 private subnet derived from the environment's name, so environments don't share one."""
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return f"10.{200 + h % 50}.{(h >> 8) % 256}.0/24"


def read_toml(file: Path) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and data; a syntax error names file:line."""
    text = file.read_text()
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"line (\d+)", str(err))
        raise ConfigError(f"{file}:{line.group(1) if line else 1}: {err}") from None


def load(file: Path) -> DevConfig:
    text, data = read_toml(file)
    values = {table: table_values(file, text, table, data.get(table, {})) for table in SCHEMA}
    for table in data:
        if table not in SCHEMA:
            raise ConfigError(f"{file}:{line_of(text, table)}: unknown table [{table}] (known: {', '.join(SCHEMA)})")
    env, app, db = values["environment"], values["app"], values["db"]
    if app["framework"] == "django" and not app["django_settings"]:
        raise error_at(file, text, "app", "django_settings", 'is required when framework = "django"')
    if app["framework"] == "tomcat" and not app["war"]:
        raise error_at(file, text, "app", "war", 'is required when framework = "tomcat" (e.g. "target/shop.war")')
    if app["framework"] != "tomcat" and not app["wsgi"]:
        raise error_at(file, text, "app", "wsgi", f'is required when framework = "{app["framework"]}"')
    try:
        subnet = ipaddress.IPv4Network(env["subnet"] or default_subnet(env["name"]))
    except ValueError as err:
        raise error_at(file, text, "environment", "subnet", f"is not a network: {err}") from None
    if subnet.prefixlen > 24 or not subnet.is_private:
        raise error_at(file, text, "environment", "subnet", "must be a private network of /24 or larger")
    if env["host_port"] == env["stats_port"]:
        raise error_at(file, text, "environment", "stats_port", "must differ from host_port")
    if values["boxes"]["catalog"]:
        _check_catalog(file, text, values["boxes"]["catalog"])
    if values["boxes"]["version"] and not _CONSTRAINT.fullmatch(values["boxes"]["version"]):
        raise error_at(
            file, text, "boxes", "version", 'must be a Vagrant version constraint such as "~> 1.0" or "= 1.0.3"'
        )
    base = file.parent
    return DevConfig(
        file=file,
        name=env["name"],
        provider=env["provider"],
        host_port=env["host_port"],
        stats_port=env["stats_port"],
        subnet=subnet,
        namespace=env["namespace"],
        web=values["topology"]["web"],
        app_nodes=values["topology"]["app"],
        app=AppSettings(
            path=(base / app["path"]).resolve(),
            framework=app["framework"],
            wsgi=app["wsgi"],
            django_settings=app["django_settings"],
            requirements=(base / app["path"] / app["requirements"]).resolve(),
            workers=app["workers"],
            war=(base / app["path"] / app["war"]).resolve() if app["war"] else None,
            heap=app["heap"],
        ),
        db_engine=db["engine"],
        db_name=db["name"],
        db_user=db["user"],
        catalog=values["boxes"]["catalog"],
        apt_cache=env["apt_cache"],
        box_version=values["boxes"]["version"],
        cache_nodes=values["topology"]["cache"],
        cache_engine=values["cache"]["engine"],
        memory=tuple((key.removesuffix("_mb"), mb) for key, mb in values["memory"].items()),
    )


def _check_catalog(file: Path, text: str, url: str) -> None:
    from contrail.catalog.store import parse_url

    try:
        location = parse_url(url)
    except ConfigError as err:
        raise error_at(file, text, "boxes", "catalog", err.message.removeprefix("catalog ")) from None
    if location.user:
        raise error_at(
            file,
            text,
            "boxes",
            "catalog",
            "must not hold credentials (this file is shared): "
            "`contrail startdev --catalog http://USER:PASSWORD@…` keeps them in .contrail/secrets.toml",
        )
    if not _CATALOG.fullmatch(url):
        raise error_at(
            file, text, "boxes", "catalog", f"must be http(s)://HOST[:PORT][/PATH] or file:///PATH (got {url!r})"
        )


Schema = dict[str, dict[str, Field]]


def table_values(file: Path, text: str, table: str, raw: Any, schema: Schema = SCHEMA) -> dict[str, Any]:
    """One table's values checked against `schema` (defaults filled in), errors with file:line."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}:{line_of(text, table)}: [{table}] must be a table")
    fields = schema[table]
    for key in raw:
        if key not in fields:
            raise error_at(file, text, table, key, f"is not a setting of [{table}] (known: {', '.join(fields)})")
    result = {}
    for key, field in fields.items():
        if key not in raw:
            if field.default is None:
                raise ConfigError(f"{file}:{line_of(text, table)}: [{table}] is missing {key!r}")
            result[key] = field.default
            continue
        value = raw[key]
        wrong_items = field.kind is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not isinstance(value, field.kind) or isinstance(value, bool) != (field.kind is bool) or wrong_items:
            raise error_at(file, text, table, key, f"must be a{'n' if field.kind is int else ''} {_kind(field)}")
        if field.low is not None and not field.low <= value <= (field.high or value):
            raise error_at(file, text, table, key, f"must be from {field.low} to {field.high} (got {value})")
        if field.choices and value not in field.choices:
            raise error_at(file, text, table, key, f"must be one of {', '.join(field.choices)} (got {value!r})")
        if field.pattern:
            pattern, allowed = field.pattern
            wrong = next((v for v in (value if field.kind is list else [value]) if not pattern.fullmatch(v)), None)
            if wrong is not None:
                raise error_at(file, text, table, key, f"{allowed} (got {wrong!r})")
        result[key] = value
    return result


def _kind(field: Field) -> str:
    return {int: "integer", str: "string", bool: "boolean", list: "list of strings"}.get(
        field.kind, field.kind.__name__
    )


def error_at(file: Path, text: str, table: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{file}:{line_of(text, table, key)}: {table}.{key} {message}")


def where(file: Path, table: str, key: str | None = None) -> str:
    """'file:line' of a setting, for messages outside this module."""
    return f"{file}:{line_of(file.read_text(), table, key)}"


def line_of(text: str, table: str, key: str | None = None) -> int:
    """The line of [table] (or of `key =` inside it); 1 when absent."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if re.match(rf"^\s*\[{re.escape(table)}\]\s*(#.*)?$", ln)), None)
    if start is None:
        return 1
    if key is None:
        return start + 1
    for i in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[i]):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start + 1
