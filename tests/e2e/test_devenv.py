"""End to end on real Docker, Vagrant and the factory's boxes: startdev → up → push → iterate → destroy."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail import config, topology
from contrail.watch import load
from tests.conftest import Result, contrail
from tests.e2e.running import LEAD, Env, example_environment, leftovers, under_load

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(built_boxes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with example_environment(tmp_path_factory, "e2e") as running:
        yield running


def served_by(body: str) -> str:
    match = re.search(r'class="node">([\w-]+)<', body)
    assert match, body
    return match.group(1)


def test_push_serves_the_app_through_haproxy(env: Env) -> None:
    pushed = env.fab("push")
    assert pushed.status == 0, pushed.stderr
    print(pushed.stdout)
    status, headers, body = env.get()
    assert status == 200
    assert "<h1>Hello from Contrail</h1>" in body
    assert "visits recorded in PostgreSQL" in body
    assert headers["X-Contrail-Release"] in body


def test_requests_spread_over_app_servers(env: Env, figures: list[str]) -> None:
    nodes = [served_by(env.get()[2]) for _ in range(30)]
    figures.append(f"30 requests served by: { {n: nodes.count(n) for n in sorted(set(nodes))} }")
    assert len(set(nodes)) >= 2


def test_static_files_come_from_nginx(env: Env) -> None:
    status, headers, body = env.get("/static/visits/style.css")
    assert status == 200 and "font-family" in body
    assert "X-Contrail-Web" in headers and "X-Contrail-Release" not in headers


def test_a_changed_template_is_served_by_every_app_server(env: Env) -> None:
    template = env.project / "visits" / "templates" / "visits" / "index.html"
    template.write_text(template.read_text().replace("Hello from Contrail", "Hello from the new release"))
    pushed = env.fab("push", "--all-at-once")
    assert pushed.status == 0, pushed.stderr
    print(pushed.stdout)
    cfg = config.load(env.project / "contrail.toml")
    for node in topology.by_role(cfg, "app"):
        status, headers, body = env.get("/", host=node.ip, port=8000)
        assert status == 200 and "Hello from the new release" in body, node.name
        assert headers["X-Contrail-Node"] == node.name


def test_a_push_that_does_not_import_keeps_the_old_release(env: Env) -> None:
    views = env.project / "visits" / "views.py"
    good = views.read_text()
    release_before = env.get()[1]["X-Contrail-Release"]
    views.write_text(good + "\ndef broken(:\n")
    try:
        pushed = env.fab("push")
    finally:
        views.write_text(good)
    assert pushed.status == 1
    assert "nothing was switched" in pushed.stderr and "views.py:" in pushed.stderr
    for _ in range(6):
        status, headers, body = env.get()
        assert status == 200 and "Hello from the new release" in body
        assert headers["X-Contrail-Release"] == release_before


def test_rollback_serves_the_previous_release_and_a_push_goes_forward_again(env: Env) -> None:
    rolled = env.fab("rollback")
    assert rolled.status == 0, rolled.stderr
    for _ in range(6):  # through the front door as soon as the command returns
        status, _, body = env.get()
        assert status == 200 and "Hello from Contrail" in body
    pushed = env.fab("push")
    assert pushed.status == 0, pushed.stderr
    assert "Hello from the new release" in env.get()[2]


def test_a_rolling_push_under_load_fails_no_request(env: Env, figures: list[str]) -> None:
    template = env.project / "visits" / "templates" / "visits" / "index.html"
    template.write_text(template.read_text().replace("Hello from the new release", "Rolled out under load"))
    pushed, ended, report = under_load(env, lambda: env.fab("push"))
    figures.append(f"rolling push under load: {report.summary().splitlines()[0]}")
    assert pushed.status == 0, pushed.stderr
    assert report.failed == 0, report.failures
    new = env.get()[1]["X-Contrail-Release"]
    assert new in report.releases and len(report.releases) == 2, "the old release, then the new one"
    after = {release for at, _, release in report.timeline if at > ended}
    assert after == {new}, "after the push ends, every request is served by the new release"


def test_a_canary_that_fails_stops_the_push(env: Env, figures: list[str]) -> None:
    views = env.project / "visits" / "views.py"
    good = views.read_text()
    cfg = config.load(env.project / "contrail.toml")
    before = {n.name: env.get("/_contrail/health", host=n.ip, port=8000)[2] for n in topology.by_role(cfg, "app")}
    views.write_text(
        good.replace(
            "    Visit.objects.create(", "    raise RuntimeError('fails at request time')\n    Visit.objects.create("
        )
    )
    try:
        pushed, _, report = under_load(env, lambda: env.fab("push"))
    finally:
        views.write_text(good)
    figures.append(f"failing canary under load: {report.summary().splitlines()[0]}")
    assert pushed.status == 1
    assert "canary app1 failed" in pushed.stderr and "HTTP 500" in pushed.stderr
    assert "RuntimeError: fails at request time (visits/views.py:" in pushed.stderr  # the app's own error
    assert report.failed == 0, report.failures
    after = {n.name: env.get("/_contrail/health", host=n.ip, port=8000)[2] for n in topology.by_role(cfg, "app")}
    assert {n: json.loads(b)["release"] for n, b in after.items()} == {
        n: json.loads(b)["release"] for n, b in before.items()
    }


def test_stopping_an_app_server_under_load(env: Env, figures: list[str]) -> None:
    stopped, _, report = under_load(env, lambda: contrail("drill", "stop", "app2", cwd=env.project), settle=10)
    assert stopped.status == 0, stopped.stderr
    status = {n["node"]: n for n in json.loads(contrail("status", "--json", cwd=env.project).stdout)}
    assert status["app2"]["state"] == "exited" and not status["app2"]["healthy"]
    assert status["app1"]["healthy"] and status["app3"]["healthy"]
    failures = [at for at, ok, _ in report.timeline if not ok]
    recovery = max(failures) - LEAD if failures else 0.0
    figures.append(
        f"stop app2 under load: {len(failures)} of {report.requests} failed, recovered within {recovery:.2f} s"
    )
    assert len(failures) <= 0.01 * report.requests
    assert recovery <= 5.0
    restored = contrail("drill", "restore", cwd=env.project)
    assert restored.status == 0, restored.stderr
    assert all(n["healthy"] for n in json.loads(contrail("status", "--json", cwd=env.project).stdout))


def test_a_hung_app_server_leaves_rotation_within_seconds(env: Env, figures: list[str]) -> None:
    """`drill pause app3` (the container frozen: connections open, nothing answers) under a load that
    never resends: the web nodes' health checks take app3 out, requests stop waiting on it."""

    def pause() -> Result:
        paused = contrail("drill", "pause", "app3", cwd=env.project)
        time.sleep(3)
        paused_status = contrail("status", cwd=env.project)
        time.sleep(9)
        return Result(paused.status, paused_status.stdout, paused.stderr)

    paused, _, report = under_load(env, pause, settle=0)
    assert paused.status == 0, paused.stderr
    assert "app3 is out of rotation on web1 (health checks fail since" in " ".join(paused.stdout.split())
    start = LEAD + 0.5  # the drill's own start
    rate_before = sum(1 for at, _, _ in report.waits if at < LEAD) / LEAD
    rate_after = sum(1 for at, _, _ in report.waits if start + 3 <= at < start + 6) / 3
    late_wait = max(seconds for at, seconds, _ in report.waits if at >= start + 2)
    figures.append(
        f"drill pause app3 under load: {report.failed} of {report.requests} failed, longest wait of a request "
        f"sent 2 s into the pause {late_wait:.2f} s, throughput 3 s in {rate_after / rate_before:.0%} of before"
    )
    assert report.failed <= 0.001 * report.requests, report.failures
    assert late_wait <= 3.0
    assert rate_after >= 0.6 * rate_before
    restoring = time.monotonic()
    assert contrail("drill", "restore", "app3", cwd=env.project).status == 0
    loading = time.monotonic()
    back = load.run(f"http://127.0.0.1:{env.port}/", seconds=4, max_requests=10**6, concurrency=8)
    back_in = loading - restoring + min(at for at, _, node in back.waits if node == "app3")
    figures.append(f"drill restore app3: back in rotation {back_in:.2f} s after the restore began")
    assert back_in <= 3.0


def test_a_slow_app_server_drill(env: Env, figures: list[str]) -> None:
    """A slow app server stays in rotation but gets fewer requests (Nginx sends each to the server with
    the fewest in progress); nothing fails."""
    app2 = next(n for n in topology.by_role(config.load(env.project / "contrail.toml"), "app") if n.name == "app2")

    def timed(path: str) -> float:
        started = time.monotonic()
        assert env.get(path, host=app2.ip, port=8000)[0] == 200
        return time.monotonic() - started

    assert contrail("drill", "slow", "app2", "--delay", "500", cwd=env.project).status == 0
    assert timed("/") >= 0.5
    assert timed("/_contrail/health") < 0.5
    report = load.run(f"http://127.0.0.1:{env.port}/", seconds=8, max_requests=10**6, concurrency=8)
    share = report.nodes["app2"] / report.requests
    figures.append(
        f"drill slow app2 --delay 500 under load: {report.failed} of {report.requests} failed, app2 got {share:.1%}"
    )
    assert report.failed == 0, report.failures
    assert 0 < share < 0.15, report.nodes
    assert contrail("drill", "restore", "app2", cwd=env.project).status == 0
    assert timed("/") < 0.5


def test_topology_changes_reach_running_machines(env: Env) -> None:
    toml = env.project / "contrail.toml"
    for web_nodes in (3, 2):
        toml.write_text(re.sub(r"^web = \d+", f"web = {web_nodes}", toml.read_text(), flags=re.MULTILINE))
        assert contrail("startdev", cwd=env.project).status == 0
        up = contrail("up", cwd=env.project)
        assert up.status == 0, up.stdout + up.stderr
        status = json.loads(contrail("status", "--json", cwd=env.project).stdout)
        webs = sorted(n["node"] for n in status if n["role"] == "web" and n["healthy"])
        assert webs == [f"web{i}" for i in range(1, web_nodes + 1)]
        containers = leftovers(env.name)
        assert len(containers) == len(topology.nodes(config.load(toml))), containers
    assert "Rolled out under load" in env.get()[2]


def test_verify_checks_every_role(env: Env) -> None:
    logs = contrail("logs", "web", "proxy", "-n", "3", cwd=env.project)
    assert logs.status == 0 and "web1 | " in logs.stdout and "proxy | " in logs.stdout, logs.stdout
    verified = contrail("verify", cwd=env.project)
    print(verified.stdout[-400:])
    assert verified.status == 0, verified.stdout + verified.stderr


def test_the_ssh_config_contrail_writes_is_the_one_vagrant_writes(env: Env) -> None:
    """(Made from the ports docker publishes, without the seconds of Ruby `vagrant ssh-config` costs.)"""
    asked = subprocess.run(["vagrant", "ssh-config"], cwd=env.project, capture_output=True, text=True, timeout=120)
    assert asked.returncode == 0, asked.stderr
    written = (env.project / ".contrail" / "ssh_config").read_text()
    assert written.split("\nHost *\n")[0].rstrip("\n") == asked.stdout.rstrip("\n")


def test_vagrants_insecure_key_no_longer_opens_any_node(env: Env, tmp_path: Path) -> None:
    insecure = next(Path("/usr/share/rubygems-integration/all/gems").glob("vagrant-*/keys/vagrant"))
    key = tmp_path / "insecure"
    key.write_bytes(insecure.read_bytes())
    key.chmod(0o600)
    ssh_config = (env.project / ".contrail" / "ssh_config").read_text()
    ports = re.findall(r"^\s*Port (\d+)$", ssh_config, re.MULTILINE)
    assert len(ports) == len(topology.nodes(config.load(env.project / "contrail.toml")))
    for port in ports:
        attempt = subprocess.run(
            [
                "ssh",
                "-i",
                str(key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ControlMaster=no",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-p",
                port,
                "vagrant@127.0.0.1",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert attempt.returncode == 255 and "Permission denied" in attempt.stderr, port


def test_destroy_leaves_nothing_behind(env: Env) -> None:
    destroyed = contrail("destroy", cwd=env.project)
    assert destroyed.status == 0, destroyed.stderr
    assert leftovers(env.name) == []
    networks = subprocess.run(
        ["docker", "network", "ls", "--filter", f"label=org.contrail.environment={env.name}", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
    )
    assert networks.stdout.split() == []
    volumes = subprocess.run(
        ["docker", "volume", "ls", "--filter", f"label=org.contrail.environment={env.name}", "-q"],
        capture_output=True,
        text=True,
    )
    assert volumes.stdout.split() == []
