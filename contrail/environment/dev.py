"""A developer's environment (contrail.toml's topology) as an `Environment`, and bringing it up: the
catalog's boxes added, the registry logged in to, `vagrant up`, new app servers caught up, every node
healthy."""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from contrail import secrets, topology
from contrail.config import DevConfig
from contrail.environment.core import Environment
from contrail.environment.health import NodeHealth, wait_healthy
from contrail.environment.providers import provider
from contrail.errors import ContrailError, ToolMissing
from contrail.tools import docker, libvirt
from contrail.tools import vagrant as vagrant_tools
from contrail.workspace import state_dir

if TYPE_CHECKING:  # (a push imports this module: not the box stores)
    from contrail.boxes.images import StoredBoxes


def environment(cfg: DevConfig) -> Environment:
    """The project's machines; with CONTRAIL_SSH_CONFIG set (CI's push to staging), reached through that
    ssh config instead of Vagrant's."""
    explicit = os.environ.get("CONTRAIL_SSH_CONFIG")
    return Environment(
        name=cfg.name,
        directory=cfg.project_dir,
        nodes=tuple(topology.nodes(cfg)),
        provider=provider(cfg.provider),
        control_name=cfg.name,
        not_up="run `contrail startdev` and `contrail up` first",
        explicit_ssh_config=Path(explicit) if explicit else None,
    )


def up(
    cfg: DevConfig,
    on_node: Callable[[str, str], None],
    catch_up: Callable[[Callable[[], object]], object],
    timeout: float = 120,
) -> list[NodeHealth]:
    """`vagrant up`, then wait until every node is healthy; the ssh config for Fabric is asked for as soon
    as every machine runs its configure step. Meanwhile `catch_up` (new app servers get the live
    release) is called with what waits for the ssh config."""
    env = environment(cfg)
    if not (cfg.project_dir / "Vagrantfile").exists():
        raise ContrailError(f"no Vagrantfile in {cfg.project_dir}", "run `contrail startdev` first")
    secrets.load(env.state)
    log = env.workspace.new_log("up")
    if cfg.provider == "libvirt" and not libvirt.answers():
        raise ToolMissing("libvirtd is not running", "run `contrail doctor --fix` (as root) or `make deps`")
    if cfg.catalog:
        add_catalog_boxes(cfg, cfg.catalog, log, on_node)
    elif cfg.provider == "libvirt":
        from contrail.boxes.vmstore import boxes_dir  # (not at import: `fab push` imports this module)

        add_catalog_boxes(cfg, boxes_dir(cfg.namespace, cfg.provider).parent.as_uri(), log, on_node)
    started = time.monotonic()

    def mark(what: str) -> None:
        """Where the time of an `up` goes, in its log (Vagrant's own lines have their times too)."""
        with log.open("a") as out:
            out.write(f"contrail: {what} after {time.monotonic() - started:.1f} s\n")

    machines = {n.name for n in env.nodes}
    configuring: set[str] = set()
    with ThreadPoolExecutor(max_workers=1) as pool:
        early: list[Future[Path]] = []

        def watch(node: str, text: str) -> None:
            on_node(node, text)
            if node in machines and text.startswith("Running provisioner"):
                configuring.add(node)
                if configuring == machines and not early:
                    # Every machine is up and configuring: the ssh config now, beside the configure
                    # steps (a provider whose ports only Vagrant knows costs `vagrant ssh-config`'s seconds).
                    early.append(pool.submit(env.write_ssh_config))

        with registry_login(cfg, log):
            runner = env.up(log, watch)
        mark("vagrant up ended")
        ssh_config = early[0] if early else pool.submit(env.write_ssh_config, runner)
        catch_up(ssh_config.result)
        mark("catch-up ended")
        report = wait_healthy(cfg, timeout)
        mark("every node healthy")
        ssh_config.result()
        mark("ssh config written")
    return report


@contextmanager
def registry_login(cfg: DevConfig, log: Path) -> Iterator[None]:
    """Logged in to the catalog's registry (credentials from .contrail/secrets.toml) for as long as the
    machines may pull their images: `docker login --password-stdin` here, not the docker provider's own
    login, which passes the password on docker's command line (`-p`), where every process list shows it."""
    auth = secrets.load(state_dir(cfg.project_dir)).get("catalog_auth", "")
    if not (cfg.catalog and auth):
        yield
        return
    registry = urllib.parse.urlsplit(cfg.catalog).netloc
    user, _, password = auth.partition(":")
    docker.login(registry, user, password, log)
    try:
        yield
    finally:
        docker.logout(registry)


def add_catalog_boxes(cfg: DevConfig, catalog: str, log: Path, on_node: Callable[[str, str], None]) -> None:
    """Add the roles' boxes that are not installed yet from `catalog` (a team's, or this machine's own
    VM boxes), one after the other, before `vagrant up`: a parallel `vagrant up` in which several machines
    wait for the same missing box can hang in Vagrant 2.3.4 (seen here with 2 web and 3 app machines)."""
    versions = {} if cfg.catalog else _vm_box_versions(cfg)
    for role in topology.boxes(cfg):
        box = f"{cfg.namespace}/{role}"
        wanted = versions.get(role, "")
        installed = vagrant_tools.installed_versions(box, cfg.provider)
        if (wanted and wanted in installed) or (not wanted and installed):
            continue
        url = f"{catalog}/{box}/metadata.json"
        on_node("", f"adding box {box} from {url}")
        version = wanted or cfg.box_version
        vagrant_tools.box_add(url, cfg.provider, version, log, lambda line: on_node("", line))


def _vm_box_versions(cfg: DevConfig) -> dict[str, str]:
    """role → its current VM box's version: what `startdev` pins in the Vagrantfile (after `build-boxes`,
    run `startdev` again to move the environment to the new boxes)."""
    from contrail.boxes.vmstore import VmBoxStore

    store = VmBoxStore(cfg.namespace, cfg.provider)
    return {role: box.version for role in topology.boxes(cfg) if (box := store.current(role))}


def outdated_machines(cfg: DevConfig) -> list[str]:
    """For docker machines of boxes built on this machine: '<machines> run <box> <version> (<newer> is
    built)' for each box built again since `startdev` pinned its version in the Vagrantfile (what
    `newer_boxes` says of a catalog's boxes)."""
    if cfg.catalog or cfg.provider != "docker":
        return []
    from contrail.boxes.images import BoxStore

    nodes = topology.nodes(cfg)
    created = docker.container_images([f"{cfg.name}-{n.name}" for n in nodes])
    machines = {n.name: (n.box_name, created.get(f"{cfg.name}-{n.name}", "")) for n in nodes}
    return stale_machines(machines, BoxStore(cfg.namespace))


def stale_machines(machines: dict[str, tuple[str, str]], store: StoredBoxes) -> list[str]:
    """`machines`: name → (its box's role, the image it was created from)."""
    from contrail.boxes.images import version_key

    by_image = {box.image_id: box for box in store.all()}
    stale: dict[tuple[str, str, str], list[str]] = {}
    for name, (role, image) in machines.items():
        box, current = by_image.get(image), store.current(role)
        if box and current and version_key(current.version) > version_key(box.version):
            stale.setdefault((f"{box.namespace}/{role}", box.version, current.version), []).append(name)
    return [
        f"{', '.join(names)} {'runs' if len(names) == 1 else 'run'} {box} {old} ({new} is built)"
        for (box, old, new), names in stale.items()
    ]


def newer_boxes(cfg: DevConfig) -> list[str]:
    """'<box> <installed> → <published>' for each role whose catalog has a newer version than any
    installed (what `vagrant box outdated` would say); empty without a catalog or when it is unreachable."""
    from contrail.catalog import metadata as catalog_format
    from contrail.catalog import publish as catalog
    from contrail.catalog.store import open_store, parse_url

    if not cfg.catalog:
        return []
    store = open_store(parse_url(cfg.catalog))
    newer = []
    for role in topology.boxes(cfg):
        box = f"{cfg.namespace}/{role}"
        installed = vagrant_tools.installed_versions(box, cfg.provider)
        try:
            metadata = catalog.read_metadata(store, box)
        except ContrailError:
            return []
        latest = metadata.latest() if metadata else None
        have = max(installed, key=catalog_format.parse_version, default=None)
        if latest and have and catalog_format.parse_version(latest.version) > catalog_format.parse_version(have):
            newer.append(f"{box} {have} → {latest.version}")
    return newer
