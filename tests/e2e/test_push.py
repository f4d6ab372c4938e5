"""`fab push` under real use, on a running 7-node example environment: back to back, under clients that
never resend, two at once, a switch that fails half-way, a push killed at any moment, a rollback (under
load, beside a push, refused on a recreated app server), a recreated app server. After each, every app
server is asked directly: the release its health endpoint reports, the release `current` names and the
page it serves must agree."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from contrail import config, topology
from tests.conftest import Result, contrail
from tests.e2e.running import FAB, Env, example_environment, ssh, under_load

pytestmark = pytest.mark.e2e
TEMPLATE = Path("visits/templates/visits/index.html")
VIEWS = Path("visits/views.py")
SETTLE_BOUND = 10.0  # seconds within which a killed push leaves every server in rotation and consistent


@pytest.fixture(scope="module")
def env(built_boxes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with example_environment(tmp_path_factory, "push") as running:
        pushed = running.fab("push")
        assert pushed.status == 0, pushed.stderr
        yield running


def edit(env: Env, marker: str, python: bool) -> None:
    """A visible change: the page's heading (a template change) or its database line (a `.py` change)."""
    if python:
        views = env.project / VIEWS
        views.write_text(
            re.sub(r'"database": [^}]*}', f'"database": connection.display_name + " ({marker})"}}', views.read_text())
        )
    else:
        template = env.project / TEMPLATE
        template.write_text(re.sub(r"<h1>.*</h1>", f"<h1>{marker}</h1>", template.read_text()))


def app_servers(env: Env) -> list[topology.Node]:
    return topology.by_role(config.load(env.project / "contrail.toml"), "app")


def observed(env: Env, node: topology.Node) -> dict[str, str]:
    """What an app server says, asked directly: its health endpoint and its page."""
    health = json.loads(env.get("/_contrail/health", host=node.ip, port=8000)[2])
    page = env.get("/", host=node.ip, port=8000)[2]
    shown = re.search(r'class="release">([^<]*)<', page)
    heading = re.search(r"<h1>(.*)</h1>", page)
    database = re.search(r"visits recorded in (.*)\.</p>", page)
    assert shown and heading and database, page
    return {
        "release": health["release"],
        "current": health["current"],
        "page release": shown.group(1),
        "heading": heading.group(1),
        "database": database.group(1),
    }


def assert_consistent(env: Env, *texts: str) -> str:
    """Every app server serves one release, the one `current` names, with `texts` on its page."""
    seen = {node.name: observed(env, node) for node in app_servers(env)}
    releases = {s["release"] for s in seen.values()}
    assert len(releases) == 1, seen
    for name, s in seen.items():
        assert s["release"] == s["current"] == s["page release"], (name, s)
        for text in texts:
            assert text in s["heading"] or text in s["database"], (name, text, s)
    return releases.pop()


def released(result: Result) -> str:
    match = re.search(r"release (\S+) live on", result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def drained(env: Env) -> list[str]:
    """The upstream lines marked down on every web node."""
    webs = topology.by_role(config.load(env.project / "contrail.toml"), "web")
    return [
        f"{web.name}: {line}"
        for web in webs
        for line in ssh(env.project, web.name, "cat /etc/nginx/contrail-upstream.conf").splitlines()
        if "down;" in line
    ]


def test_thirty_pushes_back_to_back_each_live_everywhere(env: Env, figures: list[str]) -> None:
    took: dict[str, list[float]] = {"rolling": [], "all-at-once": []}
    for i in range(30):
        python, rolling = i % 2 == 1, i % 3 != 2
        marker = f"back to back {i}"
        edit(env, marker, python)
        started = time.monotonic()
        pushed = env.fab("push", *([] if rolling else ["--all-at-once"]))
        took["rolling" if rolling else "all-at-once"].append(time.monotonic() - started)
        assert pushed.status == 0, (i, pushed.stderr)
        assert assert_consistent(env, marker) == released(pushed), i
    figures.append(
        "30 pushes back to back: "
        + ", ".join(f"{kind} median {statistics.median(times):.2f} s" for kind, times in took.items())
    )


@contextlib.contextmanager
def requests_clients(env: Env) -> Iterator[Counter[str]]:
    """4 threads of `requests` with its defaults (a Session each, no retries) on the front door while the
    block runs; what they got, by outcome."""
    stop = threading.Event()
    outcomes: Counter[str] = Counter()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                answer = session.get(f"http://127.0.0.1:{env.port}/", timeout=10)
                outcomes["ok" if answer.status_code < 500 else str(answer.status_code)] += 1
            except requests.RequestException as err:
                outcomes[type(err).__name__] += 1

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for thread in clients:
            thread.join()


def failed(outcomes: Counter[str]) -> int:
    return sum(n for outcome, n in outcomes.items() if outcome != "ok")


def test_pushes_under_clients_that_never_resend_fail_no_request(env: Env, figures: list[str]) -> None:
    """contrail.watch.load (8 keep-alive connections, never resends) and `requests` with its defaults (a
    Session per thread, no retries) during 10 pushes of `.py` changes, rolling and all at once."""

    def ten_pushes() -> Result:
        for i in range(10):
            edit(env, f"under load {i}", python=True)
            pushed = env.fab("push", *(["--all-at-once"] if i % 2 else []))
            if pushed.status != 0:
                return pushed
        return pushed

    with requests_clients(env) as outcomes:
        pushed, _, report = under_load(env, ten_pushes)
    failed_requests = failed(outcomes)
    figures.append(
        f"10 `.py` pushes under load: contrail.load {report.failed} of {report.requests} failed, "
        f"requests {failed_requests} of {sum(outcomes.values())} failed"
    )
    assert pushed.status == 0, pushed.stderr
    assert report.failed == 0, report.failures
    assert failed_requests == 0, outcomes
    assert len(report.releases) == 11, "the release before, then each of the ten"
    assert_consistent(env, "under load 9")


def test_two_pushes_at_once_run_one_after_the_other(env: Env) -> None:
    edit(env, "two at once", python=False)
    first = subprocess.Popen([FAB, "push"], cwd=env.project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05)
    second = env.fab("push", "--all-at-once")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.status == 0, second.stderr
    # 50 ms apart, either can take the lock first (Python starting fab takes longer than that): the other
    # waits for it, naming it, and goes live after it; its release id sorts after the other's (one taken
    # before the other went live is taken again)
    pushes = {"rolling": Result(first.returncode, out, err), "all-at-once": second}
    [(kind, waited)] = [(k, r) for k, r in pushes.items() if "waiting for the push by" in r.stdout]
    other = "all-at-once" if kind == "rolling" else "rolling"
    assert f"({other} push" in waited.stdout, waited.stdout
    assert released(pushes[other]) < released(waited)
    assert assert_consistent(env, "two at once") == released(waited)


def test_a_switch_that_fails_on_the_second_server_puts_every_server_back(env: Env) -> None:
    before = assert_consistent(env)
    ssh(env.project, "app2", "sudo chmod a-w /srv/app")  # app2's `current` cannot be replaced: its switch fails
    try:
        edit(env, "never live", python=False)
        pushed = env.fab("push", "--all-at-once")
    finally:
        ssh(env.project, "app2", "sudo chmod u+w /srv/app")
    assert pushed.status == 1
    assert "app2" in pushed.stderr and "every app server is back on its previous release" in pushed.stderr
    assert assert_consistent(env) == before
    again = env.fab("push", "--all-at-once")
    assert again.status == 0, again.stderr
    assert assert_consistent(env, "never live") == released(again)


def toggle_requirements(env: Env) -> None:
    """Another spelling of the same requirements: another venv, so the push restarts every Gunicorn
    master and drains each app server from Nginx first (the venvs are cached on the servers after the
    first time, so the push stays short)."""
    requirements = env.project / "requirements.txt"
    text = requirements.read_text()
    swapped = text.replace("Django>=4.2,<4.3", "Django>=4.2.0,<4.3")
    requirements.write_text(swapped if swapped != text else text.replace("Django>=4.2.0,<4.3", "Django>=4.2,<4.3"))


def test_a_push_killed_at_any_moment_leaves_every_server_in_rotation(env: Env, figures: list[str]) -> None:
    """kill -9 of `fab push` at 10 points of a rolling push that drains (a requirements change)."""
    for warm_up in range(2):  # both venvs on every server
        toggle_requirements(env)
        assert env.fab("push").status == 0, warm_up
    toggle_requirements(env)
    started = time.monotonic()
    assert env.fab("push").status == 0
    duration = time.monotonic() - started
    settled_in: list[float] = []
    for point in range(1, 11):
        toggle_requirements(env)
        edit(env, f"killed at {point}", python=False)
        push = subprocess.Popen([FAB, "push"], cwd=env.project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * point / 11)
        push.send_signal(signal.SIGKILL)
        push.wait()
        killed = time.monotonic()
        while True:
            try:  # a switch the killed push started goes on: a Gunicorn may be restarting
                seen = [observed(env, node) for node in app_servers(env)]
            except OSError as err:
                seen = [{"unanswered": str(err)}]
            if not drained(env) and all(s.get("release") == s.get("current") for s in seen):
                break
            assert time.monotonic() - killed < SETTLE_BOUND, (point, drained(env), seen)
            time.sleep(0.2)
        settled_in.append(time.monotonic() - killed)
    figures.append(
        f"fab push killed at 10 points of a {duration:.2f} s rolling push that drains: every server in rotation "
        f"and consistent within {max(settled_in):.2f} s"
    )
    pushed = env.fab("push")
    assert pushed.status == 0, pushed.stderr
    assert assert_consistent(env, "killed at 10") == released(pushed)


def test_a_rollback_across_new_requirements_fails_no_request(env: Env, figures: list[str]) -> None:
    """Back to a release with another venv: every Gunicorn master restarts, so each server is drained first,
    as a push does, and the canary's page is checked on the older release before the others move."""
    edit(env, "before the rollback", python=False)
    before = env.fab("push")
    assert before.status == 0, before.stderr
    toggle_requirements(env)
    edit(env, "rolled back from", python=False)
    assert env.fab("push").status == 0
    with requests_clients(env) as outcomes:
        rolled, _, report = under_load(env, lambda: env.fab("rollback"))
    figures.append(
        f"a rollback across new requirements under load: contrail.load {report.failed} of {report.requests} "
        f"failed, requests {failed(outcomes)} of {sum(outcomes.values())} failed"
    )
    assert rolled.status == 0, rolled.stderr
    assert f"release {released(before)} live on 3 app servers" in rolled.stdout, rolled.stdout
    assert report.failed == 0, report.failures
    assert failed(outcomes) == 0, outcomes
    assert assert_consistent(env, "before the rollback") == released(before)
    toggle_requirements(env)  # (the project's requirements as the live release's again)


def test_a_rollback_and_a_push_at_once_run_one_after_the_other(env: Env) -> None:
    live = assert_consistent(env)
    edit(env, "pushed beside a rollback", python=False)
    push = subprocess.Popen([FAB, "push"], cwd=env.project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.05)
    rolled = env.fab("rollback")
    out, err = push.communicate(timeout=300)
    pushed = Result(push.returncode, out, err)
    assert pushed.status == 0, pushed.stderr
    assert rolled.status == 0, rolled.stderr
    if "waiting for the push by" in rolled.stdout:  # the push went first: the rollback undid it
        assert "(rolling push" in rolled.stdout, rolled.stdout
        assert assert_consistent(env) == live
    else:  # the rollback went first, then the push went live
        assert "(rollback" in pushed.stdout, pushed.stdout
        assert assert_consistent(env, "pushed beside a rollback") == released(pushed)


def test_a_recreated_app_server_serves_only_the_live_release(env: Env, figures: list[str]) -> None:
    live = assert_consistent(env)

    def recreate() -> Result:
        destroy = ["vagrant", "destroy", "-f", "app2"]
        destroyed = subprocess.run(destroy, cwd=env.project, capture_output=True, text=True)
        assert destroyed.returncode == 0, destroyed.stderr
        return contrail("up", cwd=env.project)

    up, _, report = under_load(env, recreate)
    figures.append(f"app2 destroyed and brought back by `contrail up` under load: {report.summary().splitlines()[0]}")
    assert up.status == 0, up.stdout + up.stderr
    assert "app2: got the live release from another app server" in up.stdout
    assert report.failed == 0, report.failures
    assert set(report.releases) == {live}, report.releases
    assert assert_consistent(env) == live
    # app2 holds the live release alone: a rollback would leave it behind, so none is made
    rolled = env.fab("rollback")
    assert rolled.status == 1 and "app2 lacks release" in rolled.stderr, rolled.stderr
    assert "nothing was rolled back" in rolled.stderr
    assert assert_consistent(env) == live


AHEAD = """
import datetime, pathlib
from contrail.cli import fabtasks
from contrail.deploy import release
taken, year = release.new_release_id, datetime.timedelta(days=365)
release.new_release_id = lambda now=None: taken(now or datetime.datetime.now(datetime.UTC) + year)
fabtasks.push(pathlib.Path.cwd(), rolling=False)
"""


def test_a_push_after_one_from_a_clock_that_runs_ahead_goes_live_after_it(env: Env) -> None:
    """A teammate's host clock a year ahead made the live release's id: this host's next release must still
    sort after it (rollback, pruning and Tomcat's versions go by the ids), so it takes the id after it."""
    edit(env, "clock ahead", python=False)
    pushed = subprocess.run([sys.executable, "-c", AHEAD], cwd=env.project, capture_output=True, text=True)
    ahead = released(Result(pushed.returncode, pushed.stdout, pushed.stderr))
    assert assert_consistent(env, "clock ahead") == ahead
    edit(env, "after the clock", python=False)
    after = env.fab("push", "--all-at-once")
    assert after.status == 0, after.stderr
    assert released(after) > ahead, (released(after), ahead)
    assert assert_consistent(env, "after the clock") == released(after)
    rolled = env.fab("rollback")
    assert rolled.status == 0, rolled.stderr
    assert assert_consistent(env, "clock ahead") == ahead
