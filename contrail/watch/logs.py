"""`contrail logs`: the role services' logs of some nodes, merged, each line prefixed with its node."""

from __future__ import annotations

import threading
from collections.abc import Callable

from contrail import topology
from contrail.environment.core import Environment
from contrail.errors import ContrailError
from contrail.tools.ssh import Remote

# Where each box's services log (sshd, in every box, is left out).
LOGS = {
    "proxy": ["/var/log/supervisor/haproxy.log"],
    "web": ["/var/log/nginx/access.log", "/var/log/nginx/error.log"],
    "app": ["/var/log/supervisor/app.log"],
    "tomcat": ["/var/log/supervisor/app.log"],  # (Tomcat's own log goes to its console: see the box)
    "db": ["/var/log/supervisor/postgresql.log"],
    "db-mariadb": ["/var/log/supervisor/mariadb.log"],
    "cache": ["/var/log/supervisor/redis.log"],
    "cache-memcached": ["/var/log/supervisor/memcached.log"],
}


def select(env: Environment, targets: list[str]) -> list[topology.Node]:
    nodes = list(env.nodes)
    if not targets:
        return nodes
    chosen = [n for n in nodes if n.name in targets or n.role in targets]
    unknown = set(targets) - {n.name for n in nodes} - {n.role for n in nodes}
    if unknown:
        raise ContrailError(
            f"no node or role {', '.join(sorted(unknown))}", f"nodes: {', '.join(n.name for n in nodes)}"
        )
    return chosen


def show(env: Environment, targets: list[str], *, lines: int, follow: bool, echo: Callable[[str], None]) -> None:
    nodes = select(env, targets)
    log = env.workspace.new_log("logs")
    remotes = env.remotes(nodes, log)
    width = max(len(n.name) for n in nodes)
    lock = threading.Lock()

    def pump(node: topology.Node, remote: Remote) -> None:
        files = " ".join(LOGS.get(node.box_name, []))
        for line in remote.follow(f"sudo tail -q -n {lines} {'-F' if follow else ''} {files}"):
            with lock:
                echo(f"{node.name:>{width}} | {line}")

    threads = [threading.Thread(target=pump, args=pair, daemon=True) for pair in zip(nodes, remotes, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # short joins so Ctrl-C reaches the main thread
