"""The push lock on the app box (provision_scripts/contrail-files/contrail-push), on the host: the whole
script in a temporary app directory (real flock(2), real processes, their stdin as the push's
connection)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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


def test_the_steps_refuse_bad_arguments(tmp_path: Path) -> None:
    for args in (["lock", "--who", "x", "--wait", "-1"], ["lock"], ["unknown"], ["idle"], []):
        done = push(tmp_path, *args)
        _, err = done.communicate(timeout=10)
        assert done.returncode == 2, args
        assert "usage: contrail-push" in err
