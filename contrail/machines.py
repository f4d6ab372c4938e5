"""The environment's machines through Vagrant (python-vagrant): up, destroy, ssh-config, health.

`up` is `vagrant up` (parallel on the docker provider) followed by a wait until every node is healthy:
HAProxy sees every web node UP, each app server's health endpoint answers, and the app answers through
the front door. Vagrant's output goes to .contrail/logs/up-*.log and, per machine, to the progress.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import vagrant

from contrail import haproxy_stats, remote, secrets, topology
from contrail.config import DevConfig
from contrail.errors import ContrailError, ToolFailed
from contrail.tools import docker
from contrail.tools import vagrant as vagrant_tools
from contrail.workspace import Workspace

VAGRANT_ENV = {"VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "docker"}
REMOVED = "removed: no longer in contrail.toml"
_MACHINE_LINE = re.compile(r"^==> (?P<node>[\w-]+): (?P<text>.*)$")


@dataclass(frozen=True)
class NodeHealth:
    node: topology.Node
    healthy: bool
    detail: str
    release: str = ""
    rate: int | None = None  # requests/s HAProxy sends it (web nodes; the proxy: its total)
    errors: int | None = None  # 5xx answers HAProxy saw from it


def state_dir(cfg: DevConfig) -> Path:
    return cfg.project_dir / ".contrail"


def control_dir(cfg: DevConfig) -> Path:
    """OpenSSH control sockets of this environment."""
    return remote.control_dir(cfg.name)


def ssh_config_path(cfg: DevConfig) -> Path:
    return state_dir(cfg) / "ssh_config"


def _vagrant(cfg: DevConfig, log: Path) -> vagrant.Vagrant:
    if not (cfg.project_dir / "Vagrantfile").exists():
        raise ContrailError(f"no Vagrantfile in {cfg.project_dir}", "run `contrail startdev` first")
    secrets.load(state_dir(cfg))
    stderr_to_log = vagrant.make_file_cm(str(log), mode="a")
    return vagrant.Vagrant(root=str(cfg.project_dir), env={**os.environ, **VAGRANT_ENV}, err_cm=stderr_to_log)


def up(
    cfg: DevConfig,
    ws: Workspace,
    on_node: Callable[[str, str], None],
    catch_up: Callable[[Callable[[], object]], object],
    timeout: float = 120,
) -> list[NodeHealth]:
    """`vagrant up`, then the ssh config for Fabric, then wait until every node is healthy. Meanwhile
    `catch_up` (new app servers get the live release) is called with what waits for the ssh config."""
    log = ws.new_log("up")
    if cfg.catalog:
        add_catalog_boxes(cfg, log, on_node)
    machine = _vagrant(cfg, log)
    with registry_login(cfg, log):
        # --provision: configuration is re-applied to machines that already run (the scripts are idempotent).
        lines = machine.up(provider=cfg.provider, provision=True, stream_output=True)
        stream_vagrant(lines, log, on_node, "vagrant up")
    # nodes contrail.toml no longer has (e.g. after `web = 3` became 2)
    for node in remove_others(cfg.name, cfg.project_dir, {n.name for n in topology.nodes(cfg)}):
        on_node(node, REMOVED)
    with ThreadPoolExecutor(max_workers=1) as pool:
        ssh_config = pool.submit(write_ssh_config, cfg, machine)  # `vagrant ssh-config` takes seconds
        catch_up(ssh_config.result)
        report = wait_healthy(cfg, timeout)
        ssh_config.result()
    return report


@contextmanager
def registry_login(cfg: DevConfig, log: Path) -> Iterator[None]:
    """Logged in to the catalog's registry (credentials from .contrail/secrets.toml) for as long as the
    machines may pull their images: `docker login --password-stdin` here, not the docker provider's own
    login, which passes the password on docker's command line (`-p`), where every process list shows it."""
    auth = secrets.load(state_dir(cfg)).get("catalog_auth", "")
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


def add_catalog_boxes(cfg: DevConfig, log: Path, on_node: Callable[[str, str], None]) -> None:
    """Add the roles' boxes that are not installed yet, one after the other, before `vagrant up`: a
    parallel `vagrant up` in which several machines wait for the same missing box can hang in Vagrant
    2.3.4 (seen here with 2 web and 3 app machines)."""
    for role in topology.boxes(cfg):
        box = f"{cfg.namespace}/{role}"
        if vagrant_tools.installed_versions(box, cfg.provider):
            continue
        url = f"{cfg.catalog}/{box}/metadata.json"
        on_node("", f"adding box {box} from {url}")
        vagrant_tools.box_add(url, cfg.provider, cfg.box_version, log, lambda line: on_node("", line))


def newer_boxes(cfg: DevConfig) -> list[str]:
    """'<box> <installed> → <published>' for each role whose catalog has a newer version than any
    installed (what `vagrant box outdated` would say); empty without a catalog or when it is unreachable."""
    from contrail import catalog, catalog_format
    from contrail.catalog_store import open_store, parse_url

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


def destroy(cfg: DevConfig, ws: Workspace) -> list[str]:
    """`vagrant destroy`, then remove anything labelled with this environment that is left; what remains."""
    log = ws.new_log("destroy")
    machine = _vagrant(cfg, log)
    running = leftovers(cfg)
    if running:  # they are being thrown away: no graceful stop, Vagrant then only deletes them
        subprocess.run(["docker", "kill", *running], capture_output=True)
    try:
        machine.destroy()
    except subprocess.CalledProcessError as err:
        raise ToolFailed(f"vagrant destroy failed (status {err.returncode})", f"log: {log}") from None
    for name in leftovers(cfg):
        docker.remove_container(name)
    for network in docker.environment_networks(cfg.name):  # the Vagrantfile removes it with its last machine
        docker.remove_network(network)
    for volume in docker.environment_volumes(cfg.name):  # the app servers' shared directory
        docker.remove_volume(volume)
    shutil.rmtree(control_dir(cfg), ignore_errors=True)  # ssh control masters of the old machines
    ssh_config_path(cfg).unlink(missing_ok=True)
    return leftovers(cfg) + leftover_networks(cfg) + docker.environment_volumes(cfg.name)


def leftovers(cfg: DevConfig) -> list[str]:
    return docker.environment_containers(cfg.name)


def container_states(cfg: DevConfig) -> dict[str, str]:
    """node → its container's state (running, paused, exited, …), in one docker call."""
    done = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=org.contrail.environment={cfg.name}",
            "--format",
            "{{.Names}} {{.State}}",
        ],
        capture_output=True,
        text=True,
    )
    pairs = (line.split() for line in done.stdout.splitlines() if line.strip())
    return {name.removeprefix(f"{cfg.name}-"): state for name, state in pairs}


def remove_others(environment: str, project_dir: Path, wanted: set[str]) -> list[str]:
    """Remove the machines of an environment (or a team) whose node is not in `wanted` any more: the
    container and Vagrant's record of it. The nodes removed."""
    removed = []
    for name in docker.environment_containers(environment):
        node = name.removeprefix(f"{environment}-")
        if node not in wanted:
            docker.remove_container(name)
            shutil.rmtree(project_dir / ".vagrant" / "machines" / node, ignore_errors=True)
            removed.append(node)
    return removed


def leftover_networks(cfg: DevConfig) -> list[str]:
    return docker.environment_networks(cfg.name)


def stream_vagrant(lines, log: Path, on_node: Callable[[str, str], None], what: str) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        with log.open("a") as out:
            for raw in lines:
                line = raw.rstrip()
                out.write(f"[{time.monotonic() - started:6.1f}s] {line}\n")
                match = _MACHINE_LINE.match(line)
                if match:
                    on_node(match["node"], match["text"])
                else:
                    on_node("", line)
    except subprocess.CalledProcessError as err:
        # Vagrant's stderr goes to the same log without our time stamps: its last lines say what failed.
        lines = [ln.strip() for ln in log.read_text().splitlines() if ln.strip()]
        said = [ln for ln in lines if not ln.startswith("[")] or lines
        raise ToolFailed(f"{what} failed (status {err.returncode}): {' | '.join(said[-3:])}", f"log: {log}") from None


def write_ssh_config(cfg: DevConfig, machine: vagrant.Vagrant | None = None) -> Path:
    """`vagrant ssh-config` for every node, cached for Fabric and rsync (it takes seconds to ask)."""
    machine = machine or _vagrant(cfg, Workspace(cfg.project_dir, state_dir(cfg)).new_log("ssh-config"))
    return save_ssh_config(machine, control_dir(cfg), ssh_config_path(cfg))


def save_ssh_config(machine: vagrant.Vagrant, control: Path, target: Path) -> Path:
    """Vagrant's ssh config of the machines plus one authenticated connection per node (a control
    master), shared by pushes, rsync, testinfra and `ssh -F`; written atomically, 0600."""
    remote.private_dir(control)
    text = machine.ssh_config() + (
        f"\nHost *\n  ControlMaster auto\n  ControlPath {control}/%C\n  ControlPersist 600\n"
    )
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, target)
    return target


def ssh_config(cfg: DevConfig) -> Path:
    """The cached ssh config of the nodes, asking Vagrant for it once if it is missing."""
    path = ssh_config_path(cfg)
    return path if path.exists() else write_ssh_config(cfg)


def wait_healthy(cfg: DevConfig, timeout: float) -> list[NodeHealth]:
    deadline = time.monotonic() + timeout
    while True:
        report = health(cfg)
        if all(h.healthy for h in report) or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def health(cfg: DevConfig) -> list[NodeHealth]:
    """Each node's health as seen from the host (the private addresses answer here)."""
    stats = {s.server: s for s in proxy_stats(cfg) if s.proxy == "web"}
    front = http_get(f"http://127.0.0.1:{cfg.host_port}/_contrail/health")
    result = []
    for node in topology.nodes(cfg):
        if node.role == "proxy":
            ok = front[0] == 200
            total = sum(s.rate for s in stats.values())
            errors = sum(s.responses_5xx for s in stats.values())
            detail = f"front door :{cfg.host_port} → {front[0] or 'no answer'}"
            result.append(NodeHealth(node, ok, detail, rate=total, errors=errors))
        elif node.role == "web":
            stat = stats.get(node.name)
            detail = f"haproxy: {stat.status if stat else 'unknown'}"
            rate, errors = (stat.rate, stat.responses_5xx) if stat else (None, None)
            result.append(NodeHealth(node, bool(stat and stat.up), detail, rate=rate, errors=errors))
        elif node.role == "app":
            result.append(_app_health(node))
        else:
            engine, port = (
                (cfg.db_engine, topology.database(cfg).port)
                if node.role == "db"
                else (cfg.cache_engine, topology.cache(cfg).port)
            )
            ok = _port_open(node.ip, port)
            result.append(NodeHealth(node, ok, f"{engine} :{port} open" if ok else f"{engine} not answering"))
    return _flag_odd_releases(result)


def _app_health(node: topology.Node) -> NodeHealth:
    status, body = http_get(f"http://{node.ip}:8000/_contrail/health")
    if status != 200:
        return NodeHealth(node, False, "no answer on :8000")
    release, current = _json_field(body, "release"), _json_field(body, "current")
    detail = f"gunicorn answers, release {release}"
    if current and current != release:
        detail += f" — ⚠ but `current` names {current}"
    return NodeHealth(node, True, detail, release=release)


def _flag_odd_releases(report: list[NodeHealth]) -> list[NodeHealth]:
    """An app server serving another release than most of the others says so (a push that was cut off,
    a server that missed one)."""
    releases = Counter(h.release for h in report if h.node.role == "app" and h.release)
    if len(releases) < 2:
        return report
    usual = releases.most_common(1)[0][0]
    return [
        dataclasses.replace(h, detail=f"{h.detail} — ⚠ the others serve {usual}")
        if h.node.role == "app" and h.release and h.release != usual
        else h
        for h in report
    ]


def _json_field(body: str, key: str) -> str:
    try:
        return str(json.loads(body).get(key, ""))
    except ValueError:
        return ""


def proxy_stats(cfg: DevConfig) -> list[haproxy_stats.ServerStat]:
    password = secrets.load(state_dir(cfg))["stats_password"]
    auth = base64.b64encode(f"admin:{password}".encode()).decode()
    status, body = http_get(f"http://127.0.0.1:{cfg.stats_port}/;csv", {"Authorization": f"Basic {auth}"})
    return haproxy_stats.parse(body) if status == 200 else []


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError:
        return 0, ""


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
