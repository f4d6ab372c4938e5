"""`contrail verify` collects each check only on the nodes of the roles it applies to: no skips."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from contrail import config, topology
from contrail.watch import verify

TOML = """[environment]
name = "shop"

[topology]
web = 2
app = 2
cache = {cache}

[app]
{app}
"""
GUNICORN = 'framework = "wsgi"\nwsgi = "shop.wsgi:application"'
TOMCAT = 'framework = "tomcat"\nwar = "target/shop.war"'
TOMCAT_CHECKS = {
    "test_tomcat_runs_the_current_release_as_its_node",
    "test_tomcat_manager_answers_on_loopback_only_and_only_to_its_user",
    "test_tomcat_has_the_database_as_jdbc_app",
}
GUNICORN_CHECKS = {"test_app_workers_run_the_current_release", "test_app_python_is_the_one_wheels_are_made_for"}


def collected(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cache: int,
    app: str = GUNICORN,
) -> tuple[dict[str, list[str]], str, dict[str, str]]:
    """check → the nodes it was collected for; pytest's summary line; node → role."""
    (tmp_path / "contrail.toml").write_text(TOML.format(cache=cache, app=app))
    nodes = topology.nodes(config.load(tmp_path / "contrail.toml"))
    monkeypatch.setenv("CONTRAIL_PROJECT", str(tmp_path))  # restored afterwards (run_checks sets it)
    monkeypatch.delitem(sys.modules, "contrail.watch.verify_checks", raising=False)  # its CFG is this project's
    assert verify.run_checks(tmp_path, nodes, tmp_path / "ssh_config", ["--collect-only"]) == 0
    out = capsys.readouterr().out
    checks: dict[str, list[str]] = {}
    for check, node in re.findall(r"::(test_\w+)\[([\w-]+)\]", out):
        checks.setdefault(check, []).append(node)
    return {c: sorted(n) for c, n in checks.items()}, out.strip().splitlines()[-1], {n.name: n.role for n in nodes}


def test_each_check_is_collected_for_its_roles_nodes_only(tmp_path, monkeypatch, capsys):
    checks, summary, roles = collected(tmp_path, monkeypatch, capsys, cache=1)
    apps = ["app1", "app2"]
    assert checks.pop("test_every_service_runs_under_supervisor") == sorted(roles)
    assert checks["test_proxy_config_is_valid_and_lists_every_web_node"] == ["proxy"]
    assert checks["test_web_upstream_lists_every_app_node"] == ["web1", "web2"]
    assert checks["test_db_port_is_reachable_from_app_nodes"] == apps
    assert checks["test_db_accepts_the_apps_user"] == ["database"]
    assert checks["test_cache_answers_the_apps_password"] == ["cache"]
    assert checks["test_cache_is_reachable_from_app_nodes"] == apps
    assert not TOMCAT_CHECKS & set(checks), "Gunicorn app servers"
    for check, nodes in checks.items():  # any other: every node of one role, each once
        role = roles[nodes[0]]
        assert nodes == sorted(n for n, r in roles.items() if r == role), check
    collected_count = len(roles) + sum(map(len, checks.values()))
    assert summary.startswith(f"{collected_count}/{collected_count + 3} tests collected (3 deselected) in"), summary


def test_tomcat_app_servers_get_tomcats_checks_and_not_gunicorns(tmp_path, monkeypatch, capsys):
    checks, _, _ = collected(tmp_path, monkeypatch, capsys, cache=1, app=TOMCAT)
    assert all(checks[check] == ["app1", "app2"] for check in TOMCAT_CHECKS)
    assert not GUNICORN_CHECKS & set(checks)
    assert checks["test_db_port_is_reachable_from_app_nodes"] == ["app1", "app2"]


def test_checks_of_a_role_the_topology_lacks_are_deselected_not_skipped(tmp_path, monkeypatch, capsys):
    checks, summary, roles = collected(tmp_path, monkeypatch, capsys, cache=0)
    assert "cache" not in roles and "cache" not in checks["test_every_service_runs_under_supervisor"]
    assert "test_cache_answers_the_apps_password" not in checks
    assert "test_cache_is_reachable_from_app_nodes" not in checks
    assert re.match(r"\d+/\d+ tests collected \(5 deselected\) in", summary), summary  # (and Tomcat's 3)
