"""pytest-testinfra checks of every node's role, run by `contrail verify` (hosts from the ssh config).

The environment is the project named by CONTRAIL_PROJECT. Each check is marked with the roles it
applies to and `contrail verify` (verify.RoleNodes) runs it once per node of those roles, as `node`;
an unmarked check runs on every node.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

from contrail import config, secrets, topology
from contrail.deploy import release

PROJECT = Path(os.environ["CONTRAIL_PROJECT"])
CFG = config.load(PROJECT / config.FILENAME)


@pytest.fixture(scope="module")
def host(node: topology.Node, pytestconfig: pytest.Config) -> Host:
    """The node over ssh (in place of testinfra's own `host`, which is parametrized by --hosts for every check)."""
    return testinfra.get_host(f"ssh://{node.name}", ssh_config=pytestconfig.getoption("ssh_config"))


def test_every_service_runs_under_supervisor(host, node) -> None:  # type: ignore[no-untyped-def]
    status = host.run("sudo supervisorctl status")
    assert status.rc == 0, status.stdout + status.stderr
    assert "sshd" in status.stdout


@pytest.mark.roles("proxy")
def test_proxy_config_is_valid_and_lists_every_web_node(host, node) -> None:  # type: ignore[no-untyped-def]
    assert host.run("sudo haproxy -c -q -f /etc/haproxy/haproxy.cfg").rc == 0
    assert host.socket("tcp://0.0.0.0:80").is_listening
    cfg = host.file("/etc/haproxy/haproxy.cfg").content_string
    for web in topology.by_role(CFG, "web"):
        assert f"server {web.name} {web.ip}:80 check" in cfg


@pytest.mark.roles("web")
def test_web_upstream_lists_every_app_node(host, node) -> None:  # type: ignore[no-untyped-def]
    assert host.run("sudo nginx -t -q").rc == 0
    assert host.socket("tcp://0.0.0.0:80").is_listening
    conf = host.file("/etc/nginx/contrail-upstream.conf").content_string
    for app in topology.by_role(CFG, "app"):
        assert f"server {app.ip}:8000" in conf


@pytest.mark.roles("app", box="app")
def test_app_workers_run_the_current_release(host, node) -> None:  # type: ignore[no-untyped-def]
    assert host.socket("tcp://0.0.0.0:8000").is_listening
    current = host.run("basename $(readlink /srv/app/current)").stdout.strip()
    assert current
    master = host.run("cat /srv/app/run/gunicorn.pid").stdout.strip()
    workers = host.run(f"pgrep -P {master}").stdout.split()
    assert len(workers) == CFG.app.workers
    health = json.loads(host.run("curl -fsS http://127.0.0.1:8000/_contrail/health").stdout)
    assert health["release"] == host.run("cat /srv/app/current/.contrail-release").stdout.strip()
    assert health["node"] == node.name


@pytest.mark.roles("app", box="app")
def test_app_python_is_the_one_wheels_are_made_for(host, node) -> None:  # type: ignore[no-untyped-def]
    assert host.run("python3 --version").stdout.split()[-1] == release.TARGET_FULL_PYTHON


@pytest.mark.roles("app")
def test_app_switch_script_is_installed(host, node) -> None:  # type: ignore[no-untyped-def]
    switch = host.file("/usr/local/bin/contrail-switch")  # what a push runs on every app server
    assert switch.is_file and switch.user == "root" and switch.mode & 0o755 == 0o755 and not switch.mode & 0o022
    assert host.run("contrail-switch --help").rc == 0


@pytest.mark.roles("app", box="tomcat")
def test_tomcat_runs_the_current_release_as_its_node(host, node) -> None:  # type: ignore[no-untyped-def]
    assert host.socket("tcp://0.0.0.0:8000").is_listening
    java = host.process.get(user="tomcat", comm="java")
    assert f"-Dcontrail.node={node.name}" in java.args and f"-Xmx{CFG.app.heap}" in java.args
    health = json.loads(host.run("curl -fsS http://127.0.0.1:8000/_contrail/health").stdout)
    assert health["node"] == node.name  # the Engine's jvmRoute: the suffix of its sessions' ids
    current = host.run("cat /srv/app/current/.contrail-release").stdout.strip()
    assert health["release"] == current or (current == "placeholder" and health["release"] == "placeholder")


@pytest.mark.roles("app", box="tomcat")
def test_tomcat_manager_answers_on_loopback_only_and_only_to_its_user(host, node) -> None:  # type: ignore[no-untyped-def]
    status = "curl -s -o /dev/null -w '%{http_code}' "
    assert host.run(status + f"http://{node.ip}:8000/manager/text/list").stdout == "403"
    assert host.run(status + "http://127.0.0.1:8000/manager/text/list").stdout == "401"
    users = host.file("/etc/tomcat10/tomcat-users.xml")
    assert (users.user, users.group, users.mode) == ("root", "tomcat", 0o640)
    secret = host.file("/etc/contrail/manager.secret")
    assert (secret.user, secret.group, secret.mode) == ("root", "vagrant", 0o640)


@pytest.mark.roles("app", box="tomcat")
def test_tomcat_has_the_database_as_jdbc_app(host, node) -> None:  # type: ignore[no-untyped-def]
    context = host.file("/etc/tomcat10/context.xml")
    assert (context.user, context.group, context.mode) == ("root", "tomcat", 0o640)
    db = topology.by_role(CFG, "db")[0]
    scheme = "postgresql" if CFG.db_engine == "postgresql" else "mariadb"
    port = topology.database(CFG).port
    assert (
        f'url="jdbc:{scheme}://{db.ip}:{port}/{CFG.db_name}"' in host.run("sudo cat /etc/tomcat10/context.xml").stdout
    )


@pytest.mark.roles("app")
def test_db_port_is_reachable_from_app_nodes(host, node) -> None:  # type: ignore[no-untyped-def]
    db = topology.by_role(CFG, "db")[0]
    assert host.run(f"nc -z -w 2 {db.ip} {topology.database(CFG).port}").rc == 0


@pytest.mark.roles("db")
def test_db_accepts_the_apps_user(host, node) -> None:  # type: ignore[no-untyped-def]
    assert host.socket(f"tcp://0.0.0.0:{topology.database(CFG).port}").is_listening
    password = shlex.quote(secrets.load(PROJECT / ".contrail")["db_password"])
    if CFG.db_engine == "postgresql":
        query = f"PGPASSWORD={password} psql -h 127.0.0.1 -U {CFG.db_user} -d {CFG.db_name} -tAc 'select 1'"
    else:
        query = f"MYSQL_PWD={password} mariadb -h 127.0.0.1 -u {CFG.db_user} -N -B -e 'select 1' {CFG.db_name}"
    result = host.run(query)
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.mark.roles("cache")
def test_cache_answers_the_apps_password(host, node) -> None:  # type: ignore[no-untyped-def]
    port = topology.cache(CFG).port
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening
    if CFG.cache_engine == "redis":
        password = shlex.quote(secrets.load(PROJECT / ".contrail")["cache_password"])
        assert host.run("redis-cli -h 127.0.0.1 ping").stdout.strip() != "PONG"  # no password, no answer
        assert host.run(f"REDISCLI_AUTH={password} redis-cli -h 127.0.0.1 ping").stdout.strip() == "PONG"
    else:
        stats = host.run(f"exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'version\\r\\nquit\\r\\n' >&3; cat <&3")
        assert stats.stdout.startswith("VERSION "), stats.stdout


@pytest.mark.roles("app", reaches="cache")
def test_cache_is_reachable_from_app_nodes(host, node) -> None:  # type: ignore[no-untyped-def]
    cache = topology.by_role(CFG, "cache")[0]
    assert host.run(f"nc -z -w 2 {cache.ip} {topology.cache(CFG).port}").rc == 0
    assert "CACHE_URL=" in host.run("sudo cat /etc/contrail/app.env").stdout
