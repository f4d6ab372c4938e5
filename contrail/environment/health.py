"""A development environment's health as seen from the host: HAProxy's view of every web node, each app
server's health endpoint, the database's and cache's ports, and the app through the front door."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass

from contrail import secrets, topology
from contrail.config import DevConfig
from contrail.environment import haproxy_stats
from contrail.workspace import state_dir


@dataclass(frozen=True)
class NodeHealth:
    node: topology.Node
    healthy: bool
    detail: str
    release: str = ""
    rate: int | None = None  # requests/s HAProxy sends it (web nodes; the proxy: its total)
    errors: int | None = None  # 5xx answers HAProxy saw from it


def wait_healthy(cfg: DevConfig, timeout: float) -> list[NodeHealth]:
    deadline = time.monotonic() + timeout
    while True:
        report = health(cfg)
        if all(h.healthy for h in report) or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


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
            ok = port_open(node.ip, port)
            result.append(NodeHealth(node, ok, f"{engine} :{port} open" if ok else f"{engine} not answering"))
    return _flag_odd_releases(result)


def _app_health(node: topology.Node) -> NodeHealth:
    status, body = http_get(f"http://{node.ip}:8000/_contrail/health")
    if status != 200:
        return NodeHealth(node, False, "no answer on :8000")
    release, current = json_field(body, "release"), json_field(body, "current")
    server = "tomcat" if node.box_name == "tomcat" else "gunicorn"
    detail = f"{server} answers, release {release}"
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


def json_field(body: str, key: str) -> str:
    try:
        return str(json.loads(body).get(key, ""))
    except ValueError:
        return ""


def proxy_stats(cfg: DevConfig) -> list[haproxy_stats.ServerStat]:
    return answered_proxy_stats(cfg) or []


def answered_proxy_stats(cfg: DevConfig) -> list[haproxy_stats.ServerStat] | None:
    """HAProxy's stats from its page on the host's loopback (with this environment's password); None when
    it does not answer them (machines not up, or reached through another ssh config)."""
    password = secrets.load(state_dir(cfg.project_dir))["stats_password"]
    auth = base64.b64encode(f"admin:{password}".encode()).decode()
    status, body = http_get(f"http://127.0.0.1:{cfg.stats_port}/;csv", {"Authorization": f"Basic {auth}"})
    return haproxy_stats.parse(body) if status == 200 else None


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError:
        return 0, ""


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
