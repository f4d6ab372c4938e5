"""The app box's switch of a release (provision_scripts/contrail-files/contrail-switch), on the host: its
choices as functions, and the whole script in a temporary app directory against a real local HTTP
server standing in for the health endpoint (and a `sudo` on PATH that only records what it was asked)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contrail.deploy import rollout
from tests.conftest import BOX_FILES, box_script

SCRIPT = BOX_FILES / "contrail-switch"


cs = box_script("contrail-switch")


class Health:
    """A local HTTP server answering each request with the next of `answers` (the last one repeats)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes]] = []
        self.asked = 0
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = health.answers[min(health.asked, len(health.answers) - 1)]
                health.asked += 1
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/_contrail/health"

    def answer(self, *releases: str | int) -> None:
        """Releases reported in turn (an int: that error status, a JSON-less body)."""
        self.asked = 0
        self.answers = [
            (r, b"error\n") if isinstance(r, int) else (200, json.dumps({"node": "app1", "release": r}).encode())
            for r in releases
        ]

    def ask(self, timeout: float) -> str | None:
        return cs.ask_health(self.url, timeout)


@pytest.fixture
def health() -> Iterator[Health]:
    server = Health()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def app_dir(root: Path, *releases: str, venv: dict[str, str] | None = None, current: str = "r1") -> Path:
    """An app directory as the app box has it: releases/<id> each with its venv link, `current`."""
    app = root / "app"
    for rid in releases:
        (app / "releases" / rid).mkdir(parents=True)
        (app / "releases" / rid / "venv").symlink_to((venv or {}).get(rid, "/srv/app/venvs/k1"))
    (app / "run").mkdir()
    (app / "run" / "gunicorn.pid").write_text("4242\n")
    (app / "current").symlink_to(f"releases/{current}")
    return app


class Recorder:
    """In place of subprocess.run: the commands asked for, each answered by its `status` (by the word
    sudo runs, or supervisorctl's command)."""

    def __init__(self, **status: int) -> None:
        self.commands: list[list[str]] = []
        self.status = status

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        self.commands.append(command)
        word = command[2] if command[1] == "supervisorctl" else command[1]
        return subprocess.CompletedProcess(command, self.status.get(word, 0))


# --- choices --------------------------------------------------------------------------------------


def test_prunes_all_but_the_newest_releases_and_never_the_one_switched_to() -> None:
    names = [f"2024010{i}-000000-000000" for i in range(1, 9)] + ["placeholder"]
    assert cs.releases_to_prune(names, names[7], keep=5) == names[:3]
    assert cs.releases_to_prune(reversed(names), names[7], keep=5) == names[:3], "by id, not by listing order"
    assert cs.releases_to_prune(names, names[1], keep=5) == [names[0], names[2]], "a switch back keeps its release"
    assert cs.releases_to_prune(names[:4], names[3], keep=5) == []
    assert cs.releases_to_prune(names, names[7], keep=0) == names[:7]
    assert "placeholder" not in cs.releases_to_prune(names, names[7], keep=0)


def test_a_new_venv_restarts_and_the_same_venv_reloads() -> None:
    assert cs.needs_restart("/srv/app/venvs/k1", "/srv/app/venvs/k2")
    assert cs.needs_restart("/srv/app/venvs/k1", ""), "a release without a venv link cannot take a HUP"
    assert not cs.needs_restart("/srv/app/venvs/k1", "/srv/app/venvs/k1")


def test_health_answers_are_read_as_the_release_they_report() -> None:
    assert cs.reported_release(200, b'{"node": "app1", "release": "r2", "pid": 7}') == "r2"
    assert cs.reported_release(500, b'{"release": "r2"}') is None, "an error status, as curl -f"
    assert cs.reported_release(200, b"<html>502 Bad Gateway</html>") is None
    assert cs.reported_release(200, b'["release", "r2"]') is None
    assert cs.reported_release(200, b'{"release": null}') is None


def test_a_hup_goes_to_the_pid_gunicorn_rewrote_while_the_pidfile_was_gone(tmp_path: Path) -> None:
    pidfile = tmp_path / "gunicorn.pid"
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            pidfile.write_text("977\n")

    run = Recorder()
    cs.reload_gunicorn(False, pidfile, run, sleep)
    assert run.commands == [["sudo", "kill", "-HUP", "977"]]
    assert len(pauses) == 3
    with pytest.raises(cs.Failed, match="no Gunicorn pid"):
        cs.gunicorn_pid(tmp_path / "never", sleep=lambda s: None)


def test_a_restart_falls_back_to_update_for_a_server_whose_app_program_is_not_loaded(tmp_path: Path) -> None:
    run = Recorder()
    cs.reload_gunicorn(True, tmp_path / "unused.pid", run)
    assert run.commands == [["sudo", "supervisorctl", "restart", "app"]]
    run = Recorder(restart=7)
    cs.reload_gunicorn(True, tmp_path / "unused.pid", run)
    assert run.commands == [["sudo", "supervisorctl", "restart", "app"], ["sudo", "supervisorctl", "update"]]
    with pytest.raises(cs.Failed, match="supervisorctl update"):
        cs.reload_gunicorn(True, tmp_path / "unused.pid", Recorder(restart=7, update=2))
    with pytest.raises(cs.Failed, match="kill -HUP 4242"):
        pidfile = tmp_path / "gunicorn.pid"
        pidfile.write_text("4242")
        cs.reload_gunicorn(False, pidfile, Recorder(kill=1))


# --- health answers, from a real HTTP server -------------------------------------------------------


def test_the_release_is_confirmed_by_answers_in_a_row(health: Health) -> None:
    health.answer("r1", "r2", "r2", "r1", 502, "r2", "r2", "r2", "r1")
    assert cs.wait_until_served(health.ask, "r2", 3, wait=5)
    assert health.asked == 8, "two answers then a worker of the old release: the count starts again"
    health.answer("r2")
    assert cs.serves(health.ask, "r2", 3, timeout=1) and health.asked == 3
    health.answer("r2", "r1", "r2")
    assert not cs.serves(health.ask, "r2", 3, timeout=1) and health.asked == 2, "stops at the first other answer"


def test_answers_are_read_from_the_raw_http_exchange() -> None:
    assert cs.split_url("http://127.0.0.1:8000/_contrail/health") == ("127.0.0.1", 8000, "/_contrail/health")
    assert cs.split_url("http://app1") == ("app1", 80, "/")
    with pytest.raises(ValueError):
        cs.split_url("https://app1/")
    assert cs.parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") == (200, b"{}")
    assert cs.parse_response(b"HTTP/1.0 502 Bad Gateway\r\n\r\n") == (502, b"")
    assert cs.parse_response(b"HTTP/1.1 200 OK\r\nContent-Le") == (0, b""), "cut before its body"
    assert cs.parse_response(b"") == (0, b"")


def test_a_server_that_never_answers_costs_the_timeout_at_most() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts, nobody answers
        started = time.monotonic()
        assert cs.ask_health(f"http://127.0.0.1:{silent.getsockname()[1]}/_contrail/health", 0.3) is None
        assert 0.25 <= time.monotonic() - started < 2


def test_nothing_listening_is_no_answer() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    assert cs.ask_health(f"http://127.0.0.1:{port}/_contrail/health", 1) is None


def test_a_release_never_reported_fails_when_the_wait_is_over(health: Health) -> None:
    health.answer("r1")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    assert not cs.wait_until_served(health.ask, "r2", 3, wait=0.5, clock=lambda: now[0], sleep=sleep)
    assert 0.5 <= now[0] < 0.5 + 2 * cs.PAUSE
    assert 50 <= health.asked <= 52, health.asked


# --- idle ------------------------------------------------------------------------------------------

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1 1
   1: 0100007F:1F40 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   999        0 2 1
   2: 0100007F:D2F0 0100007F:1F40 01 00000000:00000000 00:00000000 00000000  1000        0 3 1
   3: 0A00000B:1F40 0A00000A:9C40 06 00000000:00000000 03:00000EA2 00000000     0        0 0 3
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000001000000:1F40 00000000000000000000000001000000:A000 01 00000000:00000000
"""


def test_only_connections_established_to_the_port_count() -> None:
    # the listener (0A), the client's own end (local port D2F0), a TIME_WAIT (06) are not connections in flight
    assert cs.established_to(8000, [TCP]) == 1
    assert cs.established_to(8000, [TCP, TCP6]) == 2
    assert cs.established_to(8001, [TCP, TCP6]) == 0
    assert cs.established_to(8000, []) == 0


def test_this_machines_tcp_tables_show_an_open_connection_until_it_closes() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert cs.established_to(port, cs.read_tables()) == 0
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        assert cs.established_to(port, cs.read_tables()) == 1
        assert not cs.wait_idle(port, 0.05)
        accepted.close()
        client.close()
        assert cs.wait_idle(port, 5)


def test_idle_waits_until_no_connection_is_left_or_its_time_is_up() -> None:
    busy = TCP
    idle = "header\n"
    clock = iter(range(100)).__next__
    answers = iter([busy, busy, idle])
    assert cs.wait_idle(8000, 10, lambda: [next(answers)], clock=lambda: float(clock()), sleep=lambda s: None)
    clock = iter(range(100)).__next__
    assert not cs.wait_idle(8000, 3, lambda: [busy], clock=lambda: float(clock()), sleep=lambda s: None)


# --- the canary's page ----------------------------------------------------------------------------------------


class Page:
    """A local HTTP server answering each request with the next status of `statuses` (the last repeats)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.asked = 0
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = page.statuses[min(page.asked, len(page.statuses) - 1)]
                page.asked += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def page() -> Iterator[Page]:
    served = Page(200)
    yield served
    served.close()


def page_check(port: int, wait: float = 0.5) -> str:
    """What wait_page says of the page at `port` ("" when it passes)."""
    try:
        cs.wait_page(lambda timeout: cs.ask(f"http://127.0.0.1:{port}/", timeout)[0], wait)
    except cs.PageFailed as failed:
        return str(failed)
    return ""


def test_a_canary_passes_once_its_page_answers_without_a_server_error(page: Page) -> None:
    page.statuses = [502, 503, 302]
    assert page_check(page.port) == ""
    assert page.asked == 3
    page.statuses, page.asked = [404], 0
    assert page_check(page.port) == "", "a 404 at / is a working app without a home page"


def test_a_canary_whose_page_keeps_failing_names_the_last_answer(page: Page) -> None:
    page.statuses = [500]
    assert page_check(page.port, 0.3) == "its page answers HTTP 500"
    assert page.asked > 1, "asked again until its time was up"


def test_a_canary_that_never_answers_says_so() -> None:
    with socket.create_server(("127.0.0.1", 0)) as nothing:
        port = nothing.getsockname()[1]
    assert page_check(port, 0.2) == "its page does not answer"


# --- the switch, in a temporary app directory -------------------------------------------------------


def test_the_switch_moves_current_reloads_once_and_is_idempotent(tmp_path: Path, health: Health) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    (app / ".current-r2").symlink_to("releases/r1")  # left by a switch that was killed
    health.answer("r1", "r2")
    run = Recorder()
    assert cs.switch("r2", app, health.ask, 3, 5, 5, run)
    assert os.readlink(app / "current") == "releases/r2"
    assert not os.path.lexists(app / ".current-r2")
    assert run.commands == [["sudo", "kill", "-HUP", "4242"]], "the same venv: a HUP, no restart"
    assert (app / "releases" / "r2" / rollout.SERVED).exists(), "marked: it went live (a rollback may go to it)"
    health.answer("r2")
    again = Recorder()
    assert not cs.switch("r2", app, health.ask, 3, 5, 5, again)
    assert again.commands == [] and health.asked == 3, "already served from current: left alone"
    assert (app / ".switch.lock").exists()


def test_a_new_venv_restarts_the_app_program(tmp_path: Path, health: Health) -> None:
    app = app_dir(tmp_path, "r1", "r2", venv={"r2": "/srv/app/venvs/k2"})
    health.answer("r2")
    run = Recorder()
    assert cs.switch("r2", app, health.ask, 3, 5, 5, run)
    assert run.commands == [["sudo", "supervisorctl", "restart", "app"]]


def test_a_server_that_still_serves_another_release_from_current_is_switched_again(
    tmp_path: Path, health: Health
) -> None:
    app = app_dir(tmp_path, "r1", "r2", current="r2")  # e.g. a switch killed before its HUP
    health.answer("r1", "r2")
    run = Recorder()
    assert cs.switch("r2", app, health.ask, 3, 5, 5, run)
    assert run.commands == [["sudo", "kill", "-HUP", "4242"]]


def test_current_never_moves_when_the_release_is_missing_or_the_link_cannot_be_made(
    tmp_path: Path, health: Health
) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    health.answer("r1")
    with pytest.raises(cs.Failed, match="no release r3"):
        cs.switch("r3", app, health.ask, 3, 5, 5, Recorder())
    (app / ".current-r2").mkdir()
    (app / ".current-r2" / "in-the-way").write_text("")
    with pytest.raises(cs.Failed, match=r"cannot point .*/current at releases/r2"):
        cs.switch("r2", app, health.ask, 3, 5, 5, Recorder())
    assert os.readlink(app / "current") == "releases/r1"


def test_one_switch_at_a_time(tmp_path: Path, health: Health) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    health.answer("r2")
    with (app / ".switch.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(cs.Failed, match="another switch still holds"):
            cs.switch("r2", app, health.ask, 3, 0.1, 5, Recorder())
        assert 0.2 <= time.monotonic() - started < 2, "the lock is waited for twice the health wait"
    assert os.readlink(app / "current") == "releases/r1"
    assert cs.switch("r2", app, health.ask, 3, 0.1, 5, Recorder()), "free again once its holder is gone"


# --- the script as the push runs it --------------------------------------------------------------------


def run_script(app: Path, health: Health, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    bin_dir = app.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    sudo = bin_dir / "sudo"
    sudo.write_text(f'#!/bin/sh\necho "$@" >> {app.parent / "sudo.log"}\n')
    sudo.chmod(0o755)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--app-dir", str(app), "--health-url", health.url],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_script_exits_1_naming_the_release_the_health_endpoint_never_reported(
    tmp_path: Path, health: Health
) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    health.answer("r1")
    done = run_script(app, health, "r2", "--wait", "0.3")
    assert done.returncode == 1
    assert done.stderr == "the health endpoint never reported release r2\n"
    assert done.stdout == ""
    assert not (app / "releases" / "r2" / rollout.SERVED).exists(), "never live: no rollback goes to it"
    assert (tmp_path / "sudo.log").read_text() == "kill -HUP 4242\n"


def test_the_script_switches_and_prunes_old_releases_in_the_background(tmp_path: Path, health: Health) -> None:
    ids = [f"2024010{i}-000000-000000" for i in range(1, 9)]
    app = app_dir(tmp_path, "placeholder", *ids, current="placeholder")
    health.answer(ids[6])
    done = run_script(app, health, ids[6], "--keep", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    assert os.readlink(app / "current") == f"releases/{ids[6]}"
    deadline = time.monotonic() + 10
    while sorted(p.name for p in (app / "releases").iterdir()) != [*ids[5:], "placeholder"]:
        assert time.monotonic() < deadline, sorted(p.name for p in (app / "releases").iterdir())
        time.sleep(0.05)


def test_the_script_refuses_a_release_id_that_is_a_path(tmp_path: Path, health: Health) -> None:
    app = app_dir(tmp_path, "r1")
    done = run_script(app, health, "../r1")
    assert done.returncode == 2 and "not a release id" in done.stderr
    assert os.readlink(app / "current") == "releases/r1"


def test_the_canarys_switch_waits_for_idle_then_asks_the_page_and_exits_3_when_it_fails(
    tmp_path: Path, health: Health
) -> None:
    app = app_dir(tmp_path, "r1", "r2", "r3")
    health.answer("r2")  # (the page at / answers as the endpoint does: 200)
    done = run_script(app, health, "r2", "--idle-wait", "0.2", "--page-wait", "0.5")
    assert done.returncode == 0, done.stderr
    assert os.readlink(app / "current") == "releases/r2"
    health.answer("r3", "r3", "r3", 500)
    done = run_script(app, health, "r3", "--page-wait", "0.3")
    assert (done.returncode, done.stderr) == (cs.PAGE_FAILED, "its page answers HTTP 500\n")
    assert health.asked > 4, "the page asked again until its time was up"


def test_a_switch_started_ahead_waits_for_its_release_and_options_on_stdin(tmp_path: Path, health: Health) -> None:
    app = app_dir(tmp_path, "r1", "r2", "r3")
    health.answer("r2")
    done = run_script(app, health, "--from-stdin", stdin="r2 --page-wait 0.5\n")
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "ready"), done.stderr
    assert os.readlink(app / "current") == "releases/r2"
    assert (tmp_path / "sudo.log").read_text() == "kill -HUP 4242\n"
    health.answer("r3", "r3", "r3", 500)  # the options told are this switch's: the page is asked, and fails
    done = run_script(app, health, "--from-stdin", stdin="r3 --page-wait 0.3\n")
    assert (done.returncode, done.stderr) == (cs.PAGE_FAILED, "its page answers HTTP 500\n")


def test_a_switch_started_ahead_and_never_told_does_nothing(tmp_path: Path, health: Health) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    health.answer("r1")
    done = run_script(app, health, "--from-stdin", stdin="")  # the push ended (or died) before its switch
    assert (done.returncode, done.stdout.splitlines()[-1], done.stderr) == (0, "ready", "")
    assert os.readlink(app / "current") == "releases/r1"
    assert not (tmp_path / "sudo.log").exists() and not (app / ".switch.lock").exists()


def test_a_switch_started_ahead_answers_the_uploads_question_as_its_command_does(
    tmp_path: Path, health: Health
) -> None:
    """What the push reads of the live release comes from the switch it started (rollout.Switches), or,
    on an older box, from the question's command (rollout.Upload.QUESTION): the same answer."""
    app = app_dir(tmp_path, "r1", "r2", venv={"r1": str(tmp_path / "app" / "venvs" / "k1")})
    (app / "releases" / "r1" / ".contrail-code").write_text("c1\n")
    (app / "shared").mkdir()
    (app / "shared" / "migrations.digest").write_text("m1\n")
    for key in ("k1", "k3", "k2"):
        (app / "venvs" / key).mkdir(parents=True)
    (app / "venvs" / "k1" / ".complete").touch()
    (app / "venvs" / "k3" / ".complete").touch()  # (k2: left incomplete by a killed push)
    question = rollout.Upload.QUESTION.replace(rollout.APP, str(app))
    asked = subprocess.run(["bash", "-c", question], capture_output=True, text=True, check=True).stdout
    said = run_script(app, health, "--from-stdin", stdin="").stdout
    assert said == asked + "ready\n"
    upload = rollout.Upload.read(said, str(app / "venvs" / "k1"))
    assert upload == rollout.Upload(False, False, "c1", "r1", "m1")
    assert rollout.Upload.read(said, str(app / "venvs" / "k2")).installed, "an incomplete venv is installed again"
    empty = app_dir(tmp_path / "fresh", "placeholder", venv={"placeholder": "/srv/app/venv"}, current="placeholder")
    said = run_script(empty, health, "--from-stdin", stdin="").stdout
    assert said == "release=placeholder\nvenv=/srv/app/venv\ncode=\nmigrated=\ncomplete=\nready\n"


@pytest.mark.parametrize(
    ("args", "stdin", "refusal"),
    [
        (("r2", "--from-stdin"), "r2\n", "give either a release or --from-stdin"),
        ((), None, "give either a release or --from-stdin"),
        (("--from-stdin",), "../r1\n", "not a release id: '../r1'"),  # (what comes on stdin is checked as well)
    ],
)
def test_a_release_comes_either_on_the_command_line_or_on_stdin(
    tmp_path: Path, health: Health, args: tuple[str, ...], stdin: str | None, refusal: str
) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    done = run_script(app, health, *args, stdin=stdin)
    assert done.returncode == 2 and refusal in done.stderr
    assert os.readlink(app / "current") == "releases/r1"
