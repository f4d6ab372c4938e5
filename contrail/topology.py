"""The nodes of an environment, their roles and fixed private addresses (derived, never stored)."""

from __future__ import annotations

from dataclasses import dataclass

from contrail.config import DevConfig

ROLES = ("proxy", "web", "app", "db")


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    ip: str


def nodes(cfg: DevConfig) -> list[Node]:
    """proxy .10, web1.. .21+, app1.. .41+, db .5 on the environment's /24."""
    net = cfg.subnet.network_address

    def at(offset: int) -> str:
        return str(net + offset)

    result = [Node("proxy", "proxy", at(10))]
    result += [Node(f"web{i}", "web", at(20 + i)) for i in range(1, cfg.web + 1)]
    result += [Node(f"app{i}", "app", at(40 + i)) for i in range(1, cfg.app_nodes + 1)]
    result.append(Node("db", "db", at(5)))
    return result


def by_role(cfg: DevConfig, role: str) -> list[Node]:
    return [n for n in nodes(cfg) if n.role == role]
