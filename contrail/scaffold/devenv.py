"""`contrail startdev`: render the devenv cookiecutter template into a project, atomically.

The first run writes contrail.toml from what it detects in the project (a Django project, or a WSGI
module); every run renders Vagrantfile, fabfile.py and devenv/ from contrail.toml. Rendering happens
in a temporary directory; files are moved into place only when every check passed, and a file the
user changed since Contrail last wrote it is never overwritten without --force.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from contrail import config, secrets, topology
from contrail.boxes import aptcache
from contrail.boxes.images import BoxStore
from contrail.boxes.vmstore import VmBoxStore, catalogs_root
from contrail.catalog import publish as catalog
from contrail.catalog.store import CatalogURL, open_store, parse_url
from contrail.config import DevConfig
from contrail.deploy import adapt
from contrail.environment.providers import provider
from contrail.errors import ConfigError, ContrailError
from contrail.scaffold import render
from contrail.tools import docker
from contrail.workspace import COOKIECUTTERS, state_dir

TEMPLATE = COOKIECUTTERS / "devenv"


@dataclass(frozen=True)
class Request:
    """What the user asked for on the command line (used only when contrail.toml does not exist)."""

    name: str | None = None
    wsgi: str | None = None
    war: str | None = None  # a .war, relative to the project (Tomcat app servers)
    provider: str | None = None  # "docker" (default), "libvirt" or "virtualbox"
    cache: int | None = None  # the shared cache node: 1 (default) or 0
    web: int | None = None
    app: int | None = None
    host_port: int | None = None
    stats_port: int | None = None
    db_engine: str | None = None
    catalog: str | None = None  # may carry USER:PASSWORD@, kept in .contrail/secrets.toml only
    force: bool = False


@dataclass(frozen=True)
class Rendered:
    config: DevConfig
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    adapted: tuple[str, ...] = ()  # the Django settings devenv/contrail_settings.py adapts, one line each


def startdev(project: Path, request: Request) -> Rendered:
    project = project.resolve()
    state = state_dir(project)
    toml = project / config.FILENAME
    fresh = not toml.exists()
    cfg = _initial_config(project, request) if fresh else config.load(toml)
    location = _catalog_location(cfg, request.catalog)
    check_app(cfg)
    images = _catalog_boxes(cfg, location) if location else _box_images(cfg)
    check_ports(cfg)
    with tempfile.TemporaryDirectory(prefix="contrail-render-") as tmp:
        rendered = render_project(cfg, images, Path(tmp))
        adapted = _adapt_settings(cfg, rendered)
        if fresh:
            config.load(rendered / config.FILENAME)  # the template's contrail.toml must parse
        else:
            (rendered / config.FILENAME).unlink()  # the user's contrail.toml is the input, never output
        files = render.files_of(rendered)
        render.refuse_user_changes(rendered, project, state, files, request.force)
        secrets.ensure(state)
        if location:
            secrets.set_catalog_auth(state, location)
        secrets.ensure_ssh_key(state, f"contrail-{cfg.name}")
        written, unchanged = render.install(rendered, project, state, files)
    (state / ".gitignore").write_text("*\n")
    return Rendered(cfg, tuple(written), tuple(unchanged), tuple(adapted))


def _adapt_settings(cfg: DevConfig, rendered: Path) -> list[str]:
    """A Django project's settings module for the servers (devenv/contrail_settings.py, see adapt.py),
    written into the render; what it adapts."""
    if cfg.app.framework != "django":
        return []
    text, findings = adapt.settings_for(cfg)
    (rendered / adapt.SETTINGS_FILE).write_text(text)
    return adapt.summary(findings)


def _initial_config(project: Path, request: Request) -> DevConfig:
    """contrail.toml's first values, from the project and the command line."""
    name = request.name or config.slug(project.name)
    app = detect_app(project, request.wsgi, request.war)
    template = json.loads((TEMPLATE / "cookiecutter.json").read_text())["contrail"]
    host_port = request.host_port or template["host_port"]
    toml = project / config.FILENAME
    catalog = parse_url(request.catalog).base if request.catalog else ""
    return DevConfig(
        file=toml,
        name=name,
        provider=request.provider or "docker",
        host_port=host_port,
        stats_port=request.stats_port
        or (template["stats_port"] if host_port != template["stats_port"] else host_port + 1),
        subnet=ipaddress.IPv4Network(config.default_subnet(name)),
        namespace=os.environ.get("CONTRAIL_NAMESPACE", "contrail"),
        web=request.web or template["web"],
        app_nodes=request.app or template["app_nodes"],
        cache_nodes=template["cache_nodes"] if request.cache is None else request.cache,
        app=config.AppSettings(
            project,
            app.framework,
            app.wsgi,
            app.settings,
            project / "requirements.txt",
            template["workers"],
            war=project / app.war if app.war else None,
        ),
        db_engine=request.db_engine or "postgresql",
        db_name=template["db_name"],
        db_user=template["db_user"],
        catalog=catalog,
    )


class DetectedApp(NamedTuple):
    framework: str
    wsgi: str  # entry point (Gunicorn)
    settings: str  # Django settings module
    war: str  # relative to the project (Tomcat)


# Where Java builds put a web application archive: Maven's, Gradle's war plugin's, or the project's root.
WAR_PLACES = ("target/*.war", "build/libs/*.war", "*.war")


def detect_app(project: Path, wsgi: str | None, war: str | None = None) -> DetectedApp:
    """The app in `project`: a Django project (manage.py), a built .war (Tomcat), or a WSGI module."""
    if war:
        if not config.WAR[0].fullmatch(war):
            raise ConfigError(f"--war {war}: {config.WAR[1]} inside {project}", "e.g. --war target/shop.war")
        return DetectedApp("tomcat", "", "", war)
    manage = project / "manage.py"
    if manage.exists():
        match = re.search(r"DJANGO_SETTINGS_MODULE['\"],\s*['\"]([\w.]+)['\"]", manage.read_text())
        if not match:
            raise ConfigError(f"{manage}: no DJANGO_SETTINGS_MODULE default found", "pass --wsgi module:callable")
        settings = match.group(1)
        return DetectedApp("django", wsgi or f"{settings.rsplit('.', 1)[0]}.wsgi:application", settings, "")
    if wsgi:
        return DetectedApp("wsgi", wsgi, "", "")
    wars = [path.relative_to(project).as_posix() for place in WAR_PLACES for path in sorted(project.glob(place))]
    if len(wars) > 1:
        raise ConfigError(f"several .war files in {project}: {', '.join(wars)}", "choose one with --war PATH")
    if wars:
        return DetectedApp("tomcat", "", "", wars[0])
    for candidate in ("wsgi.py", "app.py", "application.py"):
        path = project / candidate
        if path.exists() and re.search(r"^(def application\b|application\s*=)", path.read_text(), re.MULTILINE):
            return DetectedApp("wsgi", f"{candidate[:-3]}:application", "", "")
    raise ConfigError(
        f"no app found in {project}: no manage.py, no built .war ({', '.join(WAR_PLACES)}), no WSGI module",
        "build the .war first or pass --war PATH; for a WSGI app pass --wsgi module:callable",
    )


def check_app(cfg: DevConfig) -> None:
    """The entry point's module and callable, and the requirements file, exist (Gunicorn); the .war
    does (Tomcat)."""
    if cfg.app.server == "tomcat":
        if cfg.app.war is None or not cfg.app.war.is_file():
            where = config.where(cfg.file, "app", "war") if cfg.file.exists() else str(cfg.app.path)
            raise ConfigError(
                f"{where}: the .war {cfg.app.war} does not exist",
                "build it first (e.g. `mvn package`), or set app.war to where your build writes it",
            )
        return
    module, _, attribute = cfg.app.wsgi.partition(":")
    base = cfg.app.path / Path(*module.split("."))
    source = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)
    where = config.where(cfg.file, "app", "wsgi") if cfg.file.exists() else str(cfg.app.path)
    if source is None:
        raise ConfigError(f"{where}: WSGI module {module!r} not found under {cfg.app.path}")
    if not re.search(rf"\b{re.escape(attribute)}\b", source.read_text()):
        raise ConfigError(f"{where}: {source.name} defines no {attribute!r}")
    if not cfg.app.requirements.is_file():
        raise ConfigError(
            f"requirements file {cfg.app.requirements} not found",
            "create it (it may be empty) or set app.requirements in contrail.toml",
        )


def _box_images(cfg: DevConfig) -> dict[str, str]:
    """role → what the Vagrantfile runs: a docker image (its ref), or a VM box's version (the machine adds
    it from this machine's own catalog of VM boxes)."""
    if cfg.provider != "docker":
        store: BoxStore | VmBoxStore = VmBoxStore(cfg.namespace, cfg.provider)
    else:
        docker.server_version()
        store = BoxStore(cfg.namespace)
    current = {role: store.current(role) for role in topology.boxes(cfg)}
    missing = [role for role, box in current.items() if box is None]
    if missing:
        flag = f" --provider {cfg.provider}" if cfg.provider != "docker" else ""
        raise ContrailError(
            f"no {', '.join(missing)} box is built for the {cfg.provider} provider (namespace {cfg.namespace})",
            f"run `contrail build-boxes{flag} {' '.join(missing)}` first",
        )
    if cfg.provider != "docker":
        return {role: box.version for role, box in current.items() if box is not None}
    return {role: box.ref for role, box in current.items() if box is not None}


def vm_driver() -> str:
    """vagrant-libvirt's driver for this host: kvm where the acceleration probe booted a VM under KVM."""
    from contrail.tools.accel import acceleration
    from contrail.workspace import data_dir

    return acceleration(data_dir()).libvirt_driver


def _catalog_location(cfg: DevConfig, requested: str | None) -> CatalogURL | None:
    """The catalog this environment's boxes come from (with credentials when given), if any."""
    if requested is None:
        return parse_url(cfg.catalog) if cfg.catalog else None
    location = parse_url(requested)
    if location.base != cfg.catalog:
        where = config.where(cfg.file, "boxes", "catalog")
        raise ConfigError(
            f"{where}: boxes.catalog is {cfg.catalog!r}, not {location.base!r}",
            "change it in contrail.toml (then run `contrail startdev` again)",
        )
    return location


def _catalog_boxes(cfg: DevConfig, location: CatalogURL) -> dict[str, str]:
    """Every role's box is in the catalog with a docker provider: role → its newest version."""
    store = open_store(location)
    found = {}
    for role in topology.boxes(cfg):
        name = f"{cfg.namespace}/{role}"
        metadata = catalog.read_metadata(store, name)
        latest = metadata.latest() if metadata else None
        if latest is None or not any(v.provider("docker") for v in metadata.versions):  # type: ignore[union-attr]
            raise ContrailError(
                f"catalog {location.base} has no {name} box for the docker provider",
                f"publish it there: contrail publish --catalog {location.base} {role}",
            )
        found[role] = latest.version
    return found


def check_ports(cfg: DevConfig) -> None:
    """The host ports are free, or held by this environment's own proxy."""
    # (VirtualBox's machines are Vagrant's to run: whether one holds the port is not Contrail's to ask)
    ours = cfg.provider != "virtualbox" and provider(cfg.provider).state(cfg.name, "proxy") == "running"
    text = cfg.file.read_text() if cfg.file.exists() else ""
    for key, port in (("host_port", cfg.host_port), ("stats_port", cfg.stats_port)):
        if not ours and not port_free(port):
            where = f"{config.where(cfg.file, 'environment', key)}: " if text else ""
            raise ConfigError(
                f"{where}127.0.0.1:{port} is already in use on this machine",
                f"choose another environment.{key} in contrail.toml (or --port/--stats-port on first startdev)",
            )


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Below Linux's ephemeral ports (32768-60999): a port an outgoing connection holds for a moment is never
# one a machine being created must listen on (docker's "bind: address already in use").
SSH_PORTS = range(10240, 32768)


def ssh_port(cfg: DevConfig, node: topology.Node) -> int:
    """The host port (on 127.0.0.1) a node's SSH is forwarded to: distinct for every node of an
    environment and stable across renders (from the environment's /24, unique on this host, and the
    node's address in it). Left to Vagrant, the docker provider picks ports for machines created at once
    from a stale view of the ports in use, and two can get the same one ("port is already allocated");
    a port some other program took is still moved by Vagrant (auto_correct)."""
    second, third = cfg.subnet.network_address.packed[1:3]
    block = (second * 256 + third) % (len(SSH_PORTS) // 256)
    return SSH_PORTS.start + block * 256 + int(node.ip.rsplit(".", 1)[1])


def context(cfg: DevConfig, images: dict[str, str]) -> dict[str, object]:
    nodes = topology.nodes(cfg)
    as_dicts = [
        {
            "name": n.name,
            "role": n.role,
            "box": n.box_name,
            "configure": "tomcat" if n.box_name == "tomcat" else n.role,  # its devenv/configure/ script
            "ip": n.ip,
            "image": images[n.box_name] if cfg.provider == "docker" and not cfg.catalog else "",
            "vm_box_version": images[n.box_name] if cfg.provider != "docker" and not cfg.catalog else "",
            "ssh_port": ssh_port(cfg, n),
            "memory": dict(cfg.memory).get(n.role, 512),
        }
        for n in nodes
    ]
    return {
        "name": cfg.name,
        "namespace": cfg.namespace,
        "provider": cfg.provider,
        "libvirt_driver": vm_driver() if cfg.provider == "libvirt" else "qemu",
        "vm_catalog": catalogs_root().as_uri(),
        "memory": dict(cfg.memory),
        "catalog": cfg.catalog,
        "apt_cache": aptcache.resolve(cfg.apt_cache).build_url if cfg.apt_cache else "",
        "box_version": cfg.box_version,
        "host_port": cfg.host_port,
        "stats_port": cfg.stats_port,
        "subnet": str(cfg.subnet),
        "web": cfg.web,
        "app_nodes": cfg.app_nodes,
        "framework": cfg.app.framework,
        "wsgi": cfg.app.wsgi,
        "django_settings": cfg.app.django_settings,
        "settings_module": adapt.SETTINGS_MODULE,
        "requirements": os.path.relpath(cfg.app.requirements, cfg.app.path),
        "workers": cfg.app.workers,
        "war": os.path.relpath(cfg.app.war, cfg.app.path) if cfg.app.war else "",
        "heap": cfg.app.heap,
        "app_server": cfg.app.server,
        "db_name": cfg.db_name,
        "db_user": cfg.db_user,
        "db_engine": cfg.db_engine,
        "db_port": topology.database(cfg).port,
        "db_scheme": topology.database(cfg).scheme,
        "db_ip": topology.by_role(cfg, "db")[0].ip,
        "proxy_ip": topology.by_role(cfg, "proxy")[0].ip,
        "cache_nodes": cfg.cache_nodes,
        "cache_engine": cfg.cache_engine,
        "cache_port": topology.cache(cfg).port,
        "cache_ip": next((n.ip for n in nodes if n.role == "cache"), ""),
        "nodes": as_dicts,
        "web_nodes": [n for n in as_dicts if n["role"] == "web"],
        "app_node_list": [n for n in as_dicts if n["role"] == "app"],
    }


def render_project(cfg: DevConfig, images: dict[str, str], out: Path) -> Path:
    """The devenv template rendered for `cfg` under `out` (its root directory), with the configure
    script of the app servers it runs (Gunicorn's app.sh or tomcat.sh), not the other one."""
    rendered = render.render(TEMPLATE, context(cfg, images), out)
    unused = "app.sh" if cfg.app.server == "tomcat" else "tomcat.sh"
    (rendered / "devenv" / "configure" / unused).unlink()
    return rendered
