"""`contrail logs`: the role services' logs of some nodes, merged, each line prefixed with its node."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable

from contrail import machines, topology
from contrail.config import DevConfig
from contrail.errors import ContrailError

# Where each box's services log (sshd, in every box, is left out).
LOGS = {
    "proxy": ["/var/log/supervisor/haproxy.log"],
    "web": ["/var/log/nginx/access.log", "/var/log/nginx/error.log"],
    "app": ["/var/log/supervisor/app.log"],
    "db": ["/var/log/supervisor/postgresql.log"],
    "db-mariadb": ["/var/log/supervisor/mariadb.log"],
    "cache": ["/var/log/supervisor/redis.log"],
    "cache-memcached": ["/var/log/supervisor/memcached.log"],
}


def select(cfg: DevConfig, targets: list[str]) -> list[topology.Node]:
    nodes = topology.nodes(cfg)
    if not targets:
        return nodes
    chosen = [n for n in nodes if n.name in targets or n.role in targets]
    unknown = set(targets) - {n.name for n in nodes} - {n.role for n in nodes}
    if unknown:
        raise ContrailError(
            f"no node or role {', '.join(sorted(unknown))}", f"nodes: {', '.join(n.name for n in nodes)}"
        )
    return chosen


def show(cfg: DevConfig, targets: list[str], *, lines: int, follow: bool, echo: Callable[[str], None]) -> None:
    ssh_config = machines.ssh_config(cfg)
    nodes = select(cfg, targets)
    width = max(len(n.name) for n in nodes)
    lock = threading.Lock()

    def pump(node: topology.Node) -> None:
        files = " ".join(LOGS.get(node.box_name, []))
        command = f"sudo tail -q -n {lines} {'-F' if follow else ''} {files}"
        with subprocess.Popen(
            ["ssh", "-F", str(ssh_config), node.name, command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                with lock:
                    echo(f"{node.name:>{width}} | {line.rstrip()}")

    threads = [threading.Thread(target=pump, args=(n,), daemon=True) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # short joins so Ctrl-C reaches the main thread
