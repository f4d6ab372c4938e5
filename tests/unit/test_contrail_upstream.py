"""A web node's rotation (contrail-upstream, written by provision_scripts/web.sh), run on the host in a
temporary state and Nginx directory, with an `nginx` on PATH that records what it was asked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

UPSTREAM = """\
server 10.9.0.41:8000 max_fails=1 fail_timeout=5s;
server 10.9.0.42:8000 max_fails=1 fail_timeout=5s;
"""
ROUTES = """\
upstream app_app1 {
    server 10.9.0.41:8000 max_fails=1 fail_timeout=5s;
    server 10.9.0.42:8000 backup;
}
upstream app_app2 {
    server 10.9.0.42:8000 max_fails=1 fail_timeout=5s;
    server 10.9.0.41:8000 backup;
}
"""


def script(tmp_path: Path) -> Path:
    """The script as web.sh installs it (the heredoc between `<<'SH'` and `SH`)."""
    text = (REPO / "provision_scripts" / "web.sh").read_text()
    body = text.split("cat > /usr/local/sbin/contrail-upstream <<'SH'\n", 1)[1].split("\nSH\n", 1)[0]
    path = tmp_path / "contrail-upstream"
    path.write_text(body + "\n")
    path.chmod(0o755)
    return path


class Node:
    def __init__(self, tmp_path: Path, routes: bool) -> None:
        self.script = script(tmp_path)
        self.nginx = tmp_path / "nginx"
        self.nginx.mkdir()
        (self.nginx / "contrail-upstream.conf").write_text(UPSTREAM)
        if routes:
            (self.nginx / "contrail-routes.conf").write_text(ROUTES)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "nginx").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/nginx.log\n')
        (bin_dir / "nginx").chmod(0o755)
        self.log = tmp_path / "nginx.log"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "CONTRAIL_UPSTREAM_STATE": str(tmp_path / "state"),
            "CONTRAIL_NGINX_DIR": str(self.nginx),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.script), *args], env=self.env, capture_output=True, text=True, timeout=30)

    def reloads(self) -> int:
        return self.log.read_text().count("-s reload") if self.log.exists() else 0

    def conf(self, name: str = "contrail-upstream.conf") -> str:
        return (self.nginx / name).read_text()


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path, routes=False)


def test_a_drained_server_is_down_until_restored_and_nginx_reloads_only_on_change(node: Node) -> None:
    assert node("drain", "10.9.0.41").returncode == 0
    assert node.conf().splitlines() == [
        "server 10.9.0.41:8000 max_fails=1 fail_timeout=5s down;",
        "server 10.9.0.42:8000 max_fails=1 fail_timeout=5s;",
    ]
    assert node.reloads() == 1
    assert node("drain", "10.9.0.41").returncode == 0
    assert node.reloads() == 1, "nothing changed: no reload"
    node("restore", "10.9.0.41")
    assert node.conf() == UPSTREAM
    assert node.reloads() == 2


def test_two_reasons_keep_a_server_out_until_both_are_gone(node: Node) -> None:
    node("drain", "10.9.0.42")
    node("down", "10.9.0.42")
    node("restore", "10.9.0.42")
    assert "10.9.0.42:8000 max_fails=1 fail_timeout=5s down;" in node.conf(), "still unhealthy"
    node("up", "10.9.0.42")
    assert node.conf() == UPSTREAM


def test_list_names_each_reason_with_its_address_and_time(node: Node) -> None:
    assert node("list").stdout == "", "nothing held (and no state directory yet)"
    node("drain", "10.9.0.41")
    node("down", "10.9.0.42")
    reasons = sorted(line.split()[:2] for line in node("list").stdout.splitlines())
    assert reasons == [["drained", "10.9.0.41"], ["unhealthy", "10.9.0.42"]]
    assert all(line.split()[2].isdigit() for line in node("list").stdout.splitlines())


def test_session_routes_follow_health_but_not_drains(tmp_path: Path) -> None:
    """A drained Tomcat (a push's canary) keeps serving its sessions; an unhealthy one does not."""
    node = Node(tmp_path, routes=True)
    node("drain", "10.9.0.41")
    assert node.conf("contrail-routes.conf") == ROUTES
    assert "10.9.0.41:8000 max_fails=1 fail_timeout=5s down;" in node.conf()
    node("down", "10.9.0.42")
    routes = node.conf("contrail-routes.conf")
    assert "server 10.9.0.42:8000 max_fails=1 fail_timeout=5s down;" in routes
    assert "server 10.9.0.42:8000 backup down;" in routes
    assert "server 10.9.0.41:8000 backup;" in routes
    node("up", "10.9.0.42")
    node("restore", "10.9.0.41")
    assert (node.conf(), node.conf("contrail-routes.conf")) == (UPSTREAM, ROUTES)


def test_bad_arguments_change_nothing(node: Node) -> None:
    for args in (["drain", "10.9.0.41; reboot"], ["drain"], ["hold", "10.9.0.41", "ten"], ["explode", "10.9.0.41"]):
        done = node(*args)
        assert done.returncode == 2, args
        assert "usage: contrail-upstream" in done.stderr
    assert node.conf() == UPSTREAM and node.reloads() == 0


def test_hold_drains_while_stdin_stays_open_and_restores_at_its_end(node: Node) -> None:
    held = subprocess.Popen(
        [str(node.script), "hold", "10.9.0.41", "30"],
        env=node.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert held.stdout and held.stdout.readline() == "drained\n"
    assert " down;" in node.conf()
    assert held.stdin
    held.stdin.close()  # the push ended, or its connection dropped
    assert held.wait(timeout=10) == 0
    assert node.conf() == UPSTREAM
