"""The team's machines brought up (`team up`: services configured, scm and CI synced, every service
answering) and torn down."""

from __future__ import annotations

import time
from pathlib import Path

from contrail.environment.health import port_open
from contrail.team.ci import prepare_ci_deploy, sync_scm, sync_wheels
from contrail.team.config import TeamConfig, environment
from contrail.tools.ssh import Remote
from contrail.topology import Node


def up(cfg: TeamConfig, timeout: float = 120) -> list[tuple[Node, bool]]:
    """`vagrant up --provision` of the team's machines, then each service's port answering."""
    env = environment(cfg)
    log = env.workspace.new_log("team-up")
    env.write_ssh_config(env.up(log, lambda node, text: None, "vagrant up of the team"))
    if cfg.scm:
        sync_scm(cfg, log)
    if cfg.ci:
        sync_wheels(cfg, log)
    if cfg.ci and cfg.staging_topology:
        prepare_ci_deploy(cfg, log)
    deadline = time.monotonic() + timeout
    report = []
    for node in cfg.nodes():
        while not port_open(node.ip, node.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        report.append((node, port_open(node.ip, node.port)))
    return report


def remove_disabled(cfg: TeamConfig) -> list[str]:
    """Remove the machines of services contrail-team.toml no longer enables (their data goes with them)."""
    return environment(cfg).remove_others()


def destroy(cfg: TeamConfig) -> list[str]:
    """Every machine of the team removed (also those of services disabled since); what remains."""
    return environment(cfg).destroy()


def remote(cfg: TeamConfig, node: Node, log: Path) -> Remote:
    return environment(cfg).remote(node, log)
