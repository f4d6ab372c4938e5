"""The app box's side of a push (provision_scripts/contrail-files/contrail-push), on the host: the lock as
the whole script in a temporary app directory (real flock(2), real processes, their stdin as the push's
connection), the idle wait against this machine's own TCP tables, the canary against a real local HTTP
server."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import BOX_FILES, box_script

SCRIPT = BOX_FILES / "contrail-push"
cp = box_script("contrail-push")


def push(app: Path, *args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "--app-dir", str(app), *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def holder(app: Path) -> str:
    done = push(app, "holder")
    out, _ = done.communicate(timeout=10)
    assert done.returncode == 0
    return out.strip()


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The lock held by alice's push (its stdin is the push's connection)."""
    first = push(tmp_path, "lock", "--who", "alice@laptop (rolling push)", stdin=subprocess.PIPE)
    assert first.stdout and first.stdout.readline() == "locked\n"
    yield first
    first.kill()
    first.wait()


# --- the lock --------------------------------------------------------------------------------------


def test_a_second_push_hears_who_holds_the_lock_and_gives_up_after_its_wait(tmp_path: Path, locked) -> None:
    assert holder(tmp_path) == "alice@laptop (rolling push)"
    second = push(tmp_path, "lock", "--who", "bob@desk (all-at-once push)", "--wait", "0.3")
    out, err = second.communicate(timeout=10)
    assert second.returncode == 75
    assert out == "busy alice@laptop (rolling push)\n"
    assert err == "the push by alice@laptop (rolling push) still runs after 0.3 s\n"
    assert holder(tmp_path) == "alice@laptop (rolling push)", "the waiting push never wrote itself in"


def test_a_waiting_push_gets_the_lock_when_the_first_one_ends(tmp_path: Path, locked) -> None:
    second = push(tmp_path, "lock", "--who", "bob", "--wait", "10", stdin=subprocess.PIPE)
    assert second.stdout and second.stdout.readline() == "busy alice@laptop (rolling push)\n"
    assert locked.stdin
    locked.stdin.write("done\n")
    locked.stdin.close()
    assert locked.wait(timeout=10) == 0
    assert second.stdout.readline() == "locked\n"
    assert holder(tmp_path) == "bob"
    assert second.stdin
    second.stdin.close()
    assert second.wait(timeout=10) == 0
    assert holder(tmp_path) == "", "released: nobody holds it"
    assert not (tmp_path / ".push.holder").exists()


def test_a_push_whose_connection_drops_releases_the_lock(tmp_path: Path, locked) -> None:
    """sshd closes the command's stdin and sends SIGHUP when the push's connection goes."""
    locked.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    assert locked.poll() is None, "SIGHUP alone does not end it"
    assert locked.stdin
    locked.stdin.close()
    assert locked.wait(timeout=10) == 0
    assert holder(tmp_path) == ""


def test_a_lock_whose_holder_hangs_ends_after_its_limit(tmp_path: Path) -> None:
    hung = push(tmp_path, "lock", "--who", "carol", "--limit", "0.3", stdin=subprocess.PIPE)
    assert hung.stdout and hung.stdout.readline() == "locked\n"
    assert hung.wait(timeout=10) == 0, "ended with its stdin still open"
    assert holder(tmp_path) == ""


def test_a_holder_left_by_a_killed_lock_names_nobody(tmp_path: Path, locked) -> None:
    locked.kill()
    locked.wait()
    assert (tmp_path / ".push.holder").exists(), "kill -9 leaves the file behind"
    assert holder(tmp_path) == ""
    again = push(tmp_path, "lock", "--who", "dave", "--wait", "0")
    out, _ = again.communicate(timeout=10)
    assert (again.returncode, out) == (0, "locked\n")


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
    assert cp.established_to(8000, [TCP]) == 1
    assert cp.established_to(8000, [TCP, TCP6]) == 2
    assert cp.established_to(8001, [TCP, TCP6]) == 0
    assert cp.established_to(8000, []) == 0


def test_this_machines_tcp_tables_show_an_open_connection_until_it_closes() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert cp.established_to(port, cp.read_tables()) == 0
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        assert cp.established_to(port, cp.read_tables()) == 1
        assert not cp.wait_idle(port, 0.05)
        accepted.close()
        client.close()
        assert cp.wait_idle(port, 5)


def test_idle_waits_until_no_connection_is_left_or_its_time_is_up() -> None:
    busy = TCP
    idle = "header\n"
    clock = iter(range(100)).__next__
    answers = iter([busy, busy, idle])
    assert cp.wait_idle(8000, 10, lambda: [next(answers)], clock=lambda: float(clock()), sleep=lambda s: None)
    clock = iter(range(100)).__next__
    assert not cp.wait_idle(8000, 3, lambda: [busy], clock=lambda: float(clock()), sleep=lambda s: None)


# --- canary ----------------------------------------------------------------------------------------


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


def canary(port: int, wait: str = "0.5") -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "canary", "--port", str(port), "--wait", wait],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, done.stderr


def test_a_canary_passes_once_its_page_answers_without_a_server_error(page: Page) -> None:
    page.statuses = [502, 503, 302]
    assert canary(page.port) == (0, "")
    assert page.asked == 3
    page.statuses, page.asked = [404], 0
    assert canary(page.port) == (0, ""), "a 404 at / is a working app without a home page"


def test_a_canary_whose_page_keeps_failing_names_the_last_answer(page: Page) -> None:
    page.statuses = [500]
    assert canary(page.port, "0.3") == (1, "its page answers HTTP 500\n")
    assert page.asked > 1, "asked again until its time was up"


def test_a_canary_that_never_answers_says_so() -> None:
    with socket.create_server(("127.0.0.1", 0)) as nothing:
        port = nothing.getsockname()[1]
    assert canary(port, "0.2") == (1, "its page does not answer\n")


def test_the_steps_refuse_bad_arguments(tmp_path: Path) -> None:
    for args in (["idle", "--wait", "-1"], ["lock"], ["unknown"], []):
        done = push(tmp_path, *args)
        _, err = done.communicate(timeout=10)
        assert done.returncode == 2, args
        assert "usage: contrail-push" in err
