"""Tomcat app servers: `.war` apps on the same topology (HAProxy → 2 Nginx → 3 Tomcat → PostgreSQL),
pushed with parallel deployment. What users bring: Tomcat's own sample.war (Debian's tomcat10-docs),
Tomcat's examples webapp (Debian's tomcat10-examples, packed into a .war as a build would), and the
example app built from source by the JDK; clients that keep cookies and never resend."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from contrail import config, topology
from tests.conftest import REPO, contrail
from tests.e2e.running import Env, environment, leftovers

pytestmark = pytest.mark.e2e
SAMPLE_WAR = Path("/usr/share/tomcat10-docs/docs/appdev/sample/sample.war")
EXAMPLES = Path("/usr/share/tomcat10-examples/examples")
WAR = Path("target/java-app.war")


@pytest.fixture(scope="module")
def tomcat_box(built_boxes: Path) -> Path:
    """The tomcat box (not built by default: only Java teams need it)."""
    result = contrail("build-boxes", "tomcat", cwd=built_boxes)
    assert result.status == 0, result.stderr
    return built_boxes


def build(project: Path) -> None:
    done = subprocess.run(["./build.sh"], cwd=project, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def edit(project: Path, heading: str) -> None:
    servlet = project / "src/main/java/example/VisitsServlet.java"
    servlet.write_text(re.sub(r"<h1>[^<]*</h1>", f"<h1>{heading}</h1>", servlet.read_text()))
    build(project)


@pytest.fixture(scope="module")
def env(tomcat_box: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    project = tmp_path_factory.mktemp("tomcat") / "shop"
    shutil.copytree(REPO / "examples" / "java-app", project, ignore=shutil.ignore_patterns("target"))
    build(project)
    with environment(project, "tomcat") as running:
        assert "tomcat" in (project / "contrail.toml").read_text()
        pushed = running.fab("push")
        assert pushed.status == 0, pushed.stderr
        yield running


def page(env: Env, session: requests.Session | None = None) -> dict[str, str]:
    """The example's page through the front door: node, release, visits and heading."""
    answer = (session or requests).get(f"http://127.0.0.1:{env.port}/", timeout=10)
    answer.raise_for_status()
    found = {key: re.search(rf'id="{key}">([^<]*)<', answer.text) for key in ("node", "release", "visits")}
    heading = re.search(r"<h1>([^<]*)</h1>", answer.text)
    assert all(found.values()) and heading, answer.text
    return {**{k: m.group(1) for k, m in found.items() if m}, "heading": heading.group(1)}


def health(env: Env) -> dict[str, str]:
    """The release each Tomcat reports, asked directly."""
    cfg = config.load(env.project / "contrail.toml")
    return {
        n.name: requests.get(f"http://{n.ip}:8000/_contrail/health", timeout=5).json()["release"]
        for n in topology.by_role(cfg, "app")
    }


def test_the_example_is_live_on_three_tomcats_with_sessions_kept_on_one(env: Env) -> None:
    releases = set(health(env).values())
    assert len(releases) == 1 and releases != {"placeholder"}, releases
    client = requests.Session()
    first = page(env, client)
    assert first["release"] in releases and first["visits"] == "1"
    visits = [page(env, client) for _ in range(10)]
    assert {v["node"] for v in visits} == {first["node"]}, "a session stays on the Tomcat that made it"
    assert [v["visits"] for v in visits] == [str(n) for n in range(2, 12)]
    nodes = Counter(page(env)["node"] for _ in range(60))  # no cookie: balanced
    assert set(nodes) == {"app1", "app2", "app3"}, nodes


def test_a_rolling_push_under_load_keeps_every_session_and_fails_no_request(env: Env, figures: list[str]) -> None:
    """Clients that keep their cookies and never resend; one began before the push and must keep its
    counter (its Tomcat keeps the old version for it), a client that begins after gets the new release."""
    old = set(health(env).values()).pop()
    before = requests.Session()
    began = page(env, before)
    stop = threading.Event()
    counts: Counter[str] = Counter()

    def client() -> None:
        with requests.Session() as session:  # a new session every 50 requests, each with its cookie
            while not stop.is_set():
                try:
                    session.get(f"http://127.0.0.1:{env.port}/", timeout=10).raise_for_status()
                    counts["ok"] += 1
                except requests.RequestException as err:
                    counts[type(err).__name__] += 1
                if counts["ok"] % 50 == 0:
                    session.cookies.clear()

    edit(env.project, "Hello from the new release")
    workers = [threading.Thread(target=client) for _ in range(6)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(3)
        pushed = env.fab("push")
        deadline = time.monotonic() + 60
        while counts["ok"] < 6000 and time.monotonic() < deadline:  # (at least as many as the issue asks)
            time.sleep(0.5)
        time.sleep(2)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert pushed.status == 0, pushed.stdout + pushed.stderr
    failed = sum(c for k, c in counts.items() if k != "ok")
    figures.append(f"tomcat rolling push under cookie load: {failed} of {sum(counts.values())} requests failed")
    assert counts["ok"] >= 5000 and failed == 0, counts
    new = set(health(env).values())
    assert len(new) == 1 and new != {old}, new
    kept = page(env, before)
    assert (kept["release"], kept["node"], kept["visits"]) == (old, began["node"], str(int(began["visits"]) + 1))
    fresh = page(env)
    assert (fresh["release"], fresh["heading"]) == (new.pop(), "Hello from the new release")


def test_a_war_that_fails_to_deploy_stops_at_the_canary_with_tomcats_reason(env: Env) -> None:
    live = health(env)
    web_xml = env.project / "src/main/webapp/WEB-INF/web.xml"
    original = web_xml.read_text()
    broken = "<servlet><servlet-name>gone</servlet-name><servlet-class>example.Gone</servlet-class>"
    broken += "<load-on-startup>1</load-on-startup></servlet>\n</web-app>"
    web_xml.write_text(original.replace("</web-app>", broken))
    build(env.project)
    try:
        pushed = env.fab("push")
    finally:
        web_xml.write_text(original)
        build(env.project)
    assert pushed.status == 1
    assert "canary app1 failed" in pushed.stderr and "example.Gone" in pushed.stderr, pushed.stderr
    assert health(env) == live, "the canary is back on its release, the others were never touched"
    assert page(env)["release"] == set(live.values()).pop()


def test_a_rollback_puts_every_tomcat_back_on_the_release_before(env: Env) -> None:
    """Rolling, canary first, as a push: each Tomcat switches back to the older version (undeploying the
    newer one) and the newer release is removed."""
    live = set(health(env).values()).pop()
    edit(env.project, "Hello from a release rolled back")
    pushed = env.fab("push", "--all-at-once")
    assert pushed.status == 0, pushed.stderr
    rolled = env.fab("rollback")
    assert rolled.status == 0, rolled.stderr
    assert f"release {live} live on 3 app servers" in rolled.stdout, rolled.stdout
    assert set(health(env).values()) == {live}
    assert {page(env)["release"] for _ in range(9)} == {live}


@pytest.mark.parametrize("which", ["sample", "examples"])
def test_tomcats_own_wars_go_live_through_the_front_door(env: Env, which: str, tmp_path: Path) -> None:
    """A .war the project did not build: Tomcat's sample (a servlet at /hello), and its examples webapp
    packed as a build would (sessions servlet), set as app.war as a user would. (The examples' own
    META-INF/context.xml admits only 127.0.0.1, as shipped for a single server: behind web nodes it is
    left out, as its operator would.)"""
    war = env.project / "target" / f"{which}.war"
    if which == "sample":
        shutil.copyfile(SAMPLE_WAR, war)
        path, expected = "/hello", "Sample Application Servlet"
    else:
        tree = tmp_path / "examples"
        shutil.copytree(EXAMPLES, tree)
        (tree / "META-INF" / "context.xml").unlink()
        packed = subprocess.run(["jar", "--create", "--file", str(war), "-C", str(tree), "."], capture_output=True)
        assert packed.returncode == 0, packed.stderr
        path, expected = "/servlets/servlet/SessionExample", "Sessions Example"
    toml = env.project / "contrail.toml"
    text = toml.read_text()
    toml.write_text(text.replace(f'war = "{WAR}"', f'war = "target/{which}.war"'))
    try:
        pushed = env.fab("push", "--all-at-once")
        assert pushed.status == 0, pushed.stderr
        answer = requests.get(f"http://127.0.0.1:{env.port}{path}", timeout=10)
        assert answer.status_code == 200 and expected in answer.text, answer.text[:500]
    finally:
        toml.write_text(text)
        assert env.fab("push", "--all-at-once").status == 0
    assert page(env)["heading"].startswith("Hello from")


def test_check_says_sessions_are_per_server_and_what_replicating_them_takes(env: Env) -> None:
    page(env, requests.Session())  # one session, somewhere
    checked = contrail("check", "--json", cwd=env.project)
    assert checked.status == 0, checked.stderr
    findings = {(f["check"], f["server"]): f for f in json.loads(checked.stdout)["findings"]}
    sessions = findings[("sessions", "all")]
    assert sessions["status"] == "warn" and "sessions are per server" in sessions["detail"]
    assert re.search(r"Sessions now: app1 \d+, app2 \d+, app3 \d+", sessions["detail"])
    assert "<distributable/>" in sessions["fix"] and "<Cluster>" in sessions["fix"]
    assert all(findings[("files on disk", n)]["status"] == "pass" for n in ("app1", "app2", "app3"))


def test_verify_checks_the_tomcats_as_what_they_are(env: Env) -> None:
    logs = contrail("logs", "app1", "-n", "50", cwd=env.project)
    assert logs.status == 0 and "app1 | " in logs.stdout and "org.apache.catalina" in logs.stdout, logs.stdout
    verified = contrail("verify", "-v", cwd=env.project)
    assert verified.status == 0, verified.stdout + verified.stderr
    passed: dict[str, set[str]] = {}
    for check, node in re.findall(r"::(test_\w+)\[([\w-]+)\] PASSED", verified.stdout):
        passed.setdefault(check, set()).add(node)
    apps = {"app1", "app2", "app3"}
    for check in ("runs_the_current_release_as_its_node", "manager_answers_on_loopback_only", "database_as_jdbc"):
        assert [nodes for name, nodes in passed.items() if check in name] == [apps], verified.stdout
    assert "test_app_workers_run_the_current_release" not in passed, "Gunicorn's checks: not here"


def test_destroy_leaves_nothing_behind(env: Env) -> None:
    assert contrail("destroy", cwd=env.project).status == 0
    assert leftovers(env.name) == []
