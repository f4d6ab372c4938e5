"""`contrail team init`: team/ rendered from contrail-team.toml (cookiecutters/team), like startdev's:
the Vagrantfile, configure scripts, the staging topology's files; secrets and keys generated."""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from pathlib import Path

from contrail import config, secrets, topology
from contrail.boxes.images import BoxStore
from contrail.errors import ContrailError
from contrail.scaffold import devenv, render
from contrail.team.ci import CI_WHEELHOUSE
from contrail.team.config import CI_KEY, DIRNAME, FILENAME, SECRET_NAMES, TeamConfig, load, staging_devconfig
from contrail.tools import docker
from contrail.workspace import COOKIECUTTERS

TEMPLATE = COOKIECUTTERS / "team"


def init(cwd: Path, name: str | None, force: bool) -> tuple[TeamConfig, list[str]]:
    """Render team/ (Vagrantfile, contrail-team.toml, configure scripts) atomically."""
    folder = cwd / DIRNAME
    toml = folder / FILENAME
    fresh = not toml.exists()
    if fresh:
        team_name = name or config.slug(f"team-{cwd.name}")
        cfg = TeamConfig(
            toml,
            team_name,
            os.environ.get("CONTRAIL_NAMESPACE", "contrail"),
            ipaddress.IPv4Network(config.default_subnet(team_name)),
            True,
            True,
            "app",
            "app",
            (),
        )
    else:
        cfg = load(toml)
    images = _images(cfg)
    with tempfile.TemporaryDirectory(prefix="contrail-team-") as tmp:
        rendered = render.render(TEMPLATE, _context(cfg, images), Path(tmp) / "team", key="team")
        if cfg.staging_topology:
            _render_staging(cfg, images, rendered / "staging", Path(tmp) / "staging")
        if fresh:
            load(rendered / FILENAME)
        else:
            (rendered / FILENAME).unlink()
        files = render.files_of(rendered)
        render.refuse_user_changes(rendered, folder, cfg.state, files, force)
        secrets.ensure(cfg.state, SECRET_NAMES)
        secrets.ensure_ssh_key(cfg.state, f"contrail-{cfg.name}")
        secrets.ensure_ssh_key(cfg.state, f"contrail-{cfg.name}-ci", CI_KEY)
        written, _ = render.install(rendered, folder, cfg.state, files)
    (cfg.state / ".gitignore").write_text("*\n")
    return load(toml), written


def _render_staging(cfg: TeamConfig, images: dict[str, str], target: Path, scratch: Path) -> None:
    """The staging app topology's configure scripts, contrail.toml and fabfile.py: the devenv template,
    rendered for the team's network (CI copies contrail.toml and fabfile.py into a checkout to push)."""
    project = devenv.render_project(staging_devconfig(cfg), images, scratch)
    for name in ("contrail.toml", "fabfile.py", *(f"devenv/configure/{r}.sh" for r in ("proxy", "web", "app"))):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, target / name)


def _images(cfg: TeamConfig) -> dict[str, str]:
    docker.server_version()
    store = BoxStore(cfg.namespace)
    needed = {node.box_name: node.name for node in cfg.nodes()}  # box → a machine that runs it
    if cfg.staging_topology:  # the devenv template names every box of its topology
        for box in topology.boxes(staging_devconfig(cfg)):
            needed.setdefault(box, "the staging topology")
    current = {role: store.current(role) for role in needed}
    missing = [role for role, box in current.items() if box is None]
    if missing:
        users = ", ".join(f"{role} for {needed[role]}" for role in missing)
        raise ContrailError(
            f"no {', '.join(missing)} box is built (namespace {cfg.namespace}): {users}",
            f"run `contrail build-boxes {' '.join(missing)}` first",
        )
    return {role: box.ref for role, box in current.items() if box is not None}


def _context(cfg: TeamConfig, images: dict[str, str]) -> dict[str, object]:
    return {
        "name": cfg.name,
        "namespace": cfg.namespace,
        "subnet": str(cfg.subnet),
        "db_name": cfg.database,
        "db_user": cfg.user,
        "scm_ip": cfg.address("scm"),
        "ci_ip": cfg.address("ci"),
        "repositories": list(cfg.repositories),
        "test_command": cfg.test_command,
        "deploy_branch": cfg.deploy_branch if cfg.staging_topology else "",
        "wheelhouse": CI_WHEELHOUSE,
        "nodes": [
            {
                "name": n.name,
                "role": n.role,
                "configure": n.configure,
                "ip": n.ip,
                "image": images[n.box_name],
                "topology": n.topology_name,
            }
            for n in cfg.nodes()
        ],
        "postgresql_ip": cfg.staging_postgresql_address(),
        "apt_cache_ip": cfg.address("apt-cache"),
        "apt_cache_port": cfg.apt_cache_port,
    }
