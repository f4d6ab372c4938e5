"""`contrail drill`: fail a node of this environment on purpose, and put it back.

Drills act only on this environment's own containers (`<env>-<node>`), and every one is reversible:
`stop` (docker stop: the node is gone), `pause` (docker pause: the node hangs, connections stall),
`slow` (app nodes: every request waits, added by the app box's own WSGI wrapper, since this kernel has
no netem), `restore` (start / unpause / un-slow whatever a drill changed, then wait until healthy).
"""

from __future__ import annotations

import subprocess
import time

from contrail import machines, topology
from contrail.config import DevConfig
from contrail.errors import ContrailError, ToolFailed

ACTIONS = ("stop", "pause", "slow")
SLOW_FILE = "/srv/app/run/slow-ms"  # read by the app box's WSGI wrapper on every request


def container(cfg: DevConfig, node: str) -> str:
    if node not in {n.name for n in topology.nodes(cfg)}:
        names = ", ".join(n.name for n in topology.nodes(cfg))
        raise ContrailError(f"no node {node!r} in this environment", f"nodes: {names}")
    return f"{cfg.name}-{node}"


def state(name: str) -> str:
    """running, paused, exited, … or missing."""
    done = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", name], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "missing"


def act(cfg: DevConfig, action: str, node: str, delay_ms: int = 500) -> None:
    if action not in ACTIONS:
        raise ContrailError(f"unknown drill {action!r}", f"drills: {', '.join(ACTIONS)}, restore")
    name = container(cfg, node)
    if action == "slow":
        if node not in {n.name for n in topology.by_role(cfg, "app")}:
            raise ContrailError(f"drill slow is for app nodes, not {node!r}")
        _ssh(cfg, node, f"echo {int(delay_ms)} | sudo tee {SLOW_FILE} >/dev/null")
        return
    command = {"stop": ["docker", "stop", "-t", "5", name], "pause": ["docker", "pause", name]}[action]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolFailed(f"drill {action} {node}: {done.stderr.strip()}")


def _ssh(cfg: DevConfig, node: str, command: str, check: bool = True) -> bool:
    done = subprocess.run(["ssh", "-F", str(machines.ssh_config(cfg)), node, command], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise ToolFailed(f"drill on {node}: {done.stderr.strip() or 'ssh failed'}")
    return done.returncode == 0


def restore(cfg: DevConfig, nodes: list[str] | None = None, timeout: float = 60) -> list[str]:
    """Undo every drill on `nodes` (default: all); wait until the topology is healthy; the nodes restored."""
    restored = []
    apps = {n.name for n in topology.by_role(cfg, "app")}
    for node in nodes or [n.name for n in topology.nodes(cfg)]:
        name = container(cfg, node)
        current = state(name)
        if current == "missing":
            raise ContrailError(f"{node} has no machine (container {name} is gone)", "run `contrail up` to recreate it")
        command = {"paused": ["docker", "unpause", name], "exited": ["docker", "start", name]}.get(current)
        if command:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise ToolFailed(f"drill restore {node}: {done.stderr.strip() or 'docker failed'}")
            restored.append(node)
        elif current == "running" and node in apps and _ssh(cfg, node, f"sudo rm {SLOW_FILE} 2>/dev/null", False):
            restored.append(node)
    deadline = time.monotonic() + timeout
    while not all(h.healthy for h in machines.health(cfg)):
        if time.monotonic() > deadline:
            raise ToolFailed(f"the topology is not healthy {timeout:.0f} s after restoring {', '.join(restored)}")
        time.sleep(0.5)
    return restored
