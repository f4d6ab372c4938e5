"""`contrail drill`: fail a node of this environment on purpose, and put it back.

Drills act only on this environment's own machines, through its provider, and every one is reversible:
`stop` (the node is gone), `pause` (the node hangs, connections stall), `slow` (app nodes: every request
waits, added by the app box's own WSGI wrapper, since this kernel has no netem), `restore` (start /
resume / un-slow whatever a drill changed, then wait until healthy).
"""

from __future__ import annotations

import time

from contrail.config import DevConfig
from contrail.environment import dev
from contrail.environment.health import health
from contrail.errors import ContrailError, ToolFailed

SLOW_FILE = "/srv/app/run/slow-ms"  # read by the app box's WSGI wrapper on every request


def act(cfg: DevConfig, action: str, node: str, delay_ms: int = 500) -> None:
    env = dev.environment(cfg)
    machine = env.node(node)
    if action == "slow":
        if machine.role != "app":
            raise ContrailError(f"drill slow is for app nodes, not {node!r}")
        remote = env.remote(machine, env.workspace.new_log("drill"))
        remote.run(f"echo {int(delay_ms)} | sudo tee {SLOW_FILE} >/dev/null", what="drill slow")
        return
    if action not in env.provider.drills:
        drills = ", ".join((*env.provider.drills, "slow", "restore"))
        raise ContrailError(f"unknown drill {action!r}", f"drills: {drills}")
    env.provider.fail(env.name, node, action)


def restore(cfg: DevConfig, nodes: list[str] | None = None, timeout: float = 60) -> list[str]:
    """Undo every drill on `nodes` (default: all); wait until the topology is healthy; the nodes restored."""
    env = dev.environment(cfg)
    restored = []
    log = env.workspace.new_log("drill")
    unslow = f"sudo rm {SLOW_FILE} 2>/dev/null"
    for node in nodes or [n.name for n in env.nodes]:
        machine = env.node(node)
        current = env.provider.state(env.name, node)
        if current == "missing":
            raise ContrailError(
                f"{node} has no machine ({env.name}-{node} is gone)", "run `contrail up` to recreate it"
            )
        resumed = env.provider.resume(env.name, node)
        unslowed = not resumed and machine.role == "app" and env.remote(machine, log).run(unslow, check=False).ok
        if resumed or unslowed:
            restored.append(node)
    deadline = time.monotonic() + timeout
    while not all(h.healthy for h in health(cfg)):
        if time.monotonic() > deadline:
            raise ToolFailed(f"the topology is not healthy {timeout:.0f} s after restoring {', '.join(restored)}")
        time.sleep(0.5)
    return restored
