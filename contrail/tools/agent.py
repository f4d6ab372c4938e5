"""The push's commands on an app server started by the box's contrail-agent
(provision_scripts/contrail-files/contrail-agent) rather than by an ssh session: the agent's Unix socket
is forwarded by the host's OpenSSH control master (`ssh -L LOCAL:REMOTE`, once per master), so a
command costs a connection to a local socket and a fork of the warm agent, instead of an ssh client,
an sshd session, a shell and a fresh Python (~45 ms of CPU on the server, ~15 ms on the host).

An AgentSession behaves as ssh.Session does (expect, tell, end, close): the command's input and output
are the connection, and closing this end (or this process's end, or the control master's) is its end of
input. A box without the agent (older than it) or an agent that does not answer: `hold` starts the
command over ssh instead.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from contrail.errors import ToolFailed
from contrail.tools.ssh import Output, Remote, Session, last_line

REMOTE_SOCKET = "/srv/app/.agent.sock"  # (contrail-agent's SOCKET)
HELLO = "contrail-agent 1"
HELLO_WAIT = 5.0  # seconds for the agent to answer before the command is started over ssh instead
LOST = 255  # the status of a command whose connection closed before it said how it ended (as ssh's)


def hold(remote: Remote, argv: list[str]) -> Held:
    """`argv` (a command the agent runs) started on `remote` by its agent, else over ssh; kept running as
    long as this end stays open (ssh.Session)."""
    return start(remote, argv) or remote.hold(shlex.join(argv))


def start(remote: Remote, argv: list[str]) -> AgentSession | None:
    """`argv` started by the agent on `remote`; None when there is no agent to answer."""
    local = remote.control_dir / f"agent-{remote.name}.sock"
    connection = _connect(local)
    if connection is None and remote.forward(local, REMOTE_SOCKET):
        connection = _connect(local)
    if connection is None:
        return None
    reader: BinaryIO = connection.makefile("rb")
    try:
        connection.settimeout(HELLO_WAIT)
        connection.sendall(json.dumps(argv).encode() + b"\n")
        hello = reader.readline()
        connection.settimeout(None)
    except OSError:
        hello = b""
    if hello.decode(errors="replace").rstrip("\n") != HELLO:
        reader.close()
        connection.close()
        return None
    command = shlex.join(argv)
    with remote.log.open("a") as log:
        log.write(f"[{remote.name}] $ {command}  (held, by contrail-agent)\n")
    return AgentSession(remote, connection, reader, command)


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:  # (no forwarding yet, or one its control master left behind)
        connection.close()
        return None
    return connection


def ending(data: bytes) -> tuple[str, int, str]:
    """(stdout, exit status, stderr) of what a command sent until its connection closed: its output, then
    a NUL byte and {"status": N, "stderr": "..."} (contrail-agent); LOST when that never came."""
    output, nul, trailer = data.rpartition(b"\0")
    if not nul:
        return data.decode(errors="replace"), LOST, "the connection to contrail-agent closed before the command ended"
    try:
        end = json.loads(trailer)
        status, stderr = int(end["status"]), str(end["stderr"])
    except (ValueError, KeyError, TypeError):
        return output.decode(errors="replace"), LOST, "contrail-agent's answer is not one"
    return output.decode(errors="replace"), status, stderr


class AgentSession:
    """A command started by contrail-agent, alive as long as this end of its connection is open (ssh.Session's
    interface)."""

    def __init__(self, remote: Remote, connection: socket.socket, reader: BinaryIO, command: str) -> None:
        self.remote = remote
        self.connection = connection
        self.reader = reader
        self.command = command
        self.closed = False

    def expect(self, word: str, on_line: Callable[[str], None] = lambda line: None) -> None:
        """Read lines until one is `word`; every other line goes to `on_line`."""
        while True:
            raw = self.reader.readline()
            if not raw or b"\0" in raw:  # (it ended)
                _, status, stderr = ending(raw + self.reader.read() if raw else b"")
                self._ended(status)
                detail = last_line(Output(False, "", stderr))
                raise ToolFailed(
                    f"{self.remote.name}: exited with status {status}: {detail}", f"log: {self.remote.log}"
                )
            line = raw.decode(errors="replace").rstrip("\n")
            if line == word:
                return
            on_line(line)

    def tell(self, line: str, *, what: str | None = None) -> Output:
        """`line` as the command's last input, then its end: its output, logged and checked as ssh.Session's."""
        self.closed = True
        with contextlib.suppress(OSError):  # (it ended already: what it said comes next)
            self.connection.sendall(line.encode() + b"\n")
        self.end()
        try:
            said = self.reader.read()
        except OSError:  # (the connection broke: LOST)
            said = b""
        stdout, status, stderr = ending(said)
        self.reader.close()
        self.connection.close()
        return self.remote.ended(
            f"{self.command}  (told: {line})",
            status,
            stdout,
            stderr,
            check=True,
            what=what or f"`{self.command[:80]}`",
            private=False,
        )

    def end(self) -> None:
        """End of input: the command starts undoing what it holds."""
        with contextlib.suppress(OSError):  # (closed already)
            self.connection.shutdown(socket.SHUT_WR)

    def close(self, timeout: float = 30) -> None:
        """End of input, then wait until the command has ended (once: closing again is nothing)."""
        if self.closed:
            return
        self.end()
        self.connection.settimeout(timeout)
        try:
            _, status, _ = ending(self.reader.read())
        except OSError:  # (timed out: closing the connection ends it on the other side)
            status = LOST
        self._ended(status)

    def _ended(self, status: int) -> None:
        self.closed = True
        self.reader.close()
        self.connection.close()
        with self.remote.log.open("a") as log:
            log.write(f"[{self.remote.name}] (held command ended with status {status})\n")


Held = Session | AgentSession  # a command that lives as long as this end of it stays open
