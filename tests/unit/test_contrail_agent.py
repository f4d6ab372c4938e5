"""The app box's contrail-agent (provision_scripts/contrail-files/contrail-agent) as a real process on the
host, installed as the box installs it (each command a module in one directory, the agent importing
them), and the push's side of it (contrail.tools.agent) talking to its socket: the push lock and the
switch through it, their ends of input, exit statuses and errors, and the fallback to ssh without it.
(Through ssh, the socket is the control master's forwarding of this one: tests/e2e run every push so.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail.errors import ToolFailed
from contrail.tools import agent, ssh
from tests.conftest import BOX_FILES
from tests.unit.test_contrail_switch import Health, app_dir, health  # noqa: F401 (a fixture)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[ssh.Remote]:
    """A Remote whose agent socket (the control master's forwarding, on a machine) is a real contrail-agent's,
    with a `sudo` on its PATH that only records what it was asked."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for command in ("contrail-agent", "contrail-switch", "contrail-push"):
        shutil.copy(BOX_FILES / command, lib / f"{command.replace('-', '_')}.py")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "sudo.log"}\n')
    (bin_dir / "sudo").chmod(0o755)
    control = tmp_path / "control"
    control.mkdir(mode=0o700)
    socket_path = control / "agent-app1.sock"
    stub = f"import sys; sys.path.insert(0, {str(lib)!r}); from contrail_agent import main; main()"
    server = subprocess.Popen(
        [sys.executable, "-c", stub, "--socket", str(socket_path)],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONDONTWRITEBYTECODE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(200):
        if socket_path.exists() or server.poll() is not None:
            break
        time.sleep(0.02)
    assert socket_path.exists(), server.communicate()[0]
    yield ssh.Remote("app1", tmp_path / "ssh_config", control, tmp_path / "push.log")
    server.terminate()
    server.wait(timeout=10)


def lock(remote: ssh.Remote, app: Path, who: str) -> agent.AgentSession:
    session = agent.start(remote, ["contrail-push", "--app-dir", str(app), "lock", "--who", who, "--wait", "10"])
    assert session is not None, "the agent answered"
    return session


def switch_ahead(remote: ssh.Remote, app: Path, health: Health) -> agent.AgentSession:  # noqa: F811
    """A switch started by the agent as the push starts them (--from-stdin)."""
    argv = ["contrail-switch", "--app-dir", str(app), "--health-url", health.url, "--from-stdin"]
    session = agent.start(remote, argv)
    assert session is not None, "the agent answered"
    return session


def holder(remote: ssh.Remote, app: Path) -> str:
    session = agent.start(remote, ["contrail-push", "--app-dir", str(app), "holder"])
    assert session is not None
    return session.tell("").stdout.strip()


def test_the_push_lock_through_the_agent_is_held_while_its_end_is_open(remote: ssh.Remote, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    first = lock(remote, app, "ann")
    first.expect("locked")
    assert holder(remote, app) == "ann"
    heard: list[str] = []
    second = lock(remote, app, "bob")
    waiting = threading.Thread(target=second.expect, args=("locked", heard.append))
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive() and heard == ["busy ann"], "the second push waits, told who holds the lock"
    first.close()
    waiting.join(timeout=10)
    assert not waiting.is_alive() and holder(remote, app) == "bob"
    second.reader.close()  # a push killed (kill -9): the kernel closes its end, without a word
    second.connection.close()
    for _ in range(100):
        if not holder(remote, app):
            break
        time.sleep(0.05)
    assert holder(remote, app) == "", "the lock of a push that died is given back"
    assert "(held command ended with status 0)" in remote.log.read_text()


def test_a_switch_started_ahead_through_the_agent_answers_then_switches(
    remote: ssh.Remote,
    tmp_path: Path,
    health: Health,  # noqa: F811 (the fixture)
) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    health.answer("r2")
    switch = switch_ahead(remote, app, health)
    said: list[str] = []
    switch.expect("ready", said.append)
    assert said[0] == "release=r1" and [line.partition("=")[0] for line in said] == [
        "release",
        "venv",
        "code",
        "migrated",
        "complete",
    ]
    assert switch.tell("r2 --page-wait 0.5").ok
    assert os.readlink(app / "current") == "releases/r2"
    assert (tmp_path / "sudo.log").read_text() == "kill -HUP 4242\n", "run with the agent's rights and PATH"
    never_told = switch_ahead(remote, app, health)
    never_told.expect("ready")
    never_told.close()
    assert os.readlink(app / "current") == "releases/r2"


def test_a_failure_through_the_agent_is_the_commands_own(
    remote: ssh.Remote,
    tmp_path: Path,
    health: Health,  # noqa: F811 (the fixture)
) -> None:
    app = app_dir(tmp_path, "r1", "r2")
    health.answer("r1")
    switch = switch_ahead(remote, app, health)
    switch.expect("ready")
    with pytest.raises(ToolFailed, match="the health endpoint never reported release r2"):
        switch.tell("r2 --wait 0.3", what="contrail-switch")
    refused = agent.start(remote, ["contrail-switch", "r2", "--from-stdin"])
    assert refused is not None
    with pytest.raises(ToolFailed, match=r"exited with status 2: .*give either a release or --from-stdin"):
        refused.expect("ready")
    other = agent.start(remote, ["sh", "-c", "id"])
    assert other is not None
    with pytest.raises(ToolFailed, match="exited with status 2: contrail-agent: not a command it runs: \\['sh'\\]"):
        other.expect("ready")


def test_without_an_agent_the_command_is_started_over_ssh(local_remote: ssh.Remote) -> None:
    held = agent.hold(local_remote, ["echo", "locked"])  # (the `ssh` stand-in runs it here)
    assert isinstance(held, ssh.Session)
    held.expect("locked")
    held.close()


def test_what_a_command_said_and_how_it_ended() -> None:
    assert agent.ending(b'line\n\0{"status": 3, "stderr": "its page answers HTTP 500\\n"}\n') == (
        "line\n",
        3,
        "its page answers HTTP 500\n",
    )
    assert agent.ending(b"half a li") == (
        "half a li",
        agent.LOST,
        "the connection to contrail-agent closed before the command ended",
    )
    assert agent.ending(b"\0garbage")[1:] == (agent.LOST, "contrail-agent's answer is not one")
