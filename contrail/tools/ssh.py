"""One machine over SSH: commands, file transfer (rsync), held sessions, log streaming and an interactive
shell, all through OpenSSH and the environment's ssh config — the one way Contrail reaches a machine.

Why OpenSSH here rather than Fabric's Connection: a push runs a handful of commands on each host, and
a fresh paramiko session costs ~0.2 s of key exchange per host per push, while OpenSSH's control master
(ControlPersist) keeps one authenticated connection per host for both the commands and rsync:
~15 ms a command once it is up. The fabfile's tasks stay Fabric's; only the transport is OpenSSH.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import select
import shlex
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from contrail.errors import ContrailError, ToolFailed
from contrail.tools.run import run

CONTROL_PERSIST = "600"  # seconds an idle control master stays up: covers an edit-push loop


def control_dir(name: str) -> Path:
    """Where the OpenSSH control sockets of environment (or team) `name` live: a short path (sockets are
    limited to ~100 bytes), /tmp/contrail-<uid>/ssh-<name>, each level made 0700 by this user."""
    base = private_dir(Path(tempfile.gettempdir()) / f"contrail-{os.getuid()}")
    return private_dir(base / f"ssh-{name}")


def private_dir(directory: Path) -> Path:
    """`directory`, made 0700 if missing; one that exists must be this user's own directory (not a
    symlink) that nobody else can enter: a control socket in a directory someone else made at a
    predictable path would hand them the authenticated connection."""
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ContrailError(
            f"{directory} is not a private directory of this user "
            f"(owner {info.st_uid}, mode {info.st_mode & 0o7777:o})",
            "remove it: Contrail makes it itself, mode 0700",
        )
    return directory


@dataclass(frozen=True)
class Output:
    ok: bool
    stdout: str
    stderr: str


class Remote:
    def __init__(self, name: str, ssh_config: Path, control_dir: Path, log: Path) -> None:
        self.name = name
        self.ssh_config = ssh_config
        self.control_dir = control_dir
        self.log = log

    def ssh_command(self) -> list[str]:
        private_dir(self.control_dir)
        return [
            "ssh",
            "-F",
            str(self.ssh_config),
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={self.control_dir}/%C",
            "-o",
            f"ControlPersist={CONTROL_PERSIST}",
            "-o",
            "BatchMode=yes",
        ]

    def run(
        self,
        command: str,
        *,
        check: bool = True,
        what: str | None = None,
        stdin: str | bytes | None = None,
        private: bool = False,
        timeout: float | None = None,
    ) -> Output:
        """Run `command` on the host. With `private` (its output holds data: table rows, personal values) the
        log gets the command and its exit status only, and a failure's message its first error line only.
        With `timeout`, a host that does not answer in time (a frozen machine) is a failure."""
        try:
            done = subprocess.run(
                [*self.ssh_command(), self.name, command],
                input=stdin.encode() if isinstance(stdin, str) else stdin,
                stdin=subprocess.DEVNULL if stdin is None else None,
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            done = subprocess.CompletedProcess([], 124, b"", f"no answer within {timeout} s".encode())
        stdout, stderr = (stream.decode("utf-8", errors="replace") for stream in (done.stdout, done.stderr))
        return self.ended(command, done.returncode, stdout, stderr, check=check, what=what, private=private)

    def ended(
        self, command: str, status: int, stdout: str, stderr: str, *, check: bool, what: str | None, private: bool
    ) -> Output:
        """A command's end, logged and checked as `run` says."""
        with self.log.open("a") as log:
            if private:
                log.write(f"[{self.name}] $ {command}\n(exit status {status}; output not logged)\n")
            else:
                shown = stdout if len(stdout) < 20_000 else stdout[:20_000] + "…(cut)\n"
                log.write(f"[{self.name}] $ {command}\n{shown}{stderr}")
        output = Output(status == 0, stdout, stderr)
        if check and not output.ok:
            summary = what or f"`{command.splitlines()[0][:80]}`"
            detail = redact(error_line(stdout + stderr)) if private else last_line(output)
            raise ToolFailed(f"{self.name}: {summary} failed: {detail}", f"log: {self.log}")
        return output

    def hold(self, command: str) -> Session:
        """Start `command` and keep it running for as long as this process keeps its end open (see Session)."""
        process = subprocess.Popen(
            [*self.ssh_command(), self.name, command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with self.log.open("a") as log:
            log.write(f"[{self.name}] $ {command}  (held)\n")
        return Session(self, process, command)

    def forward(self, local: Path, remote_path: str) -> bool:
        """The Unix socket `local` here forwarded to `remote_path` on the host by its control master, for as
        long as the master lives; whether it is (False when no master runs: the push's first command over
        ssh starts one). What an earlier forwarding left is removed first: the master's record of it (it
        would take the request for one that still listens) and its socket file (binding over it fails)."""
        spec = ["-L", f"{local}:{remote_path}"]
        quiet = {"stdin": subprocess.DEVNULL, "capture_output": True}
        subprocess.run([*self.ssh_command(), "-O", "cancel", *spec, self.name], **quiet)
        local.unlink(missing_ok=True)
        done = subprocess.run([*self.ssh_command(), "-O", "forward", *spec, self.name], **quiet)
        with self.log.open("a") as log:
            log.write(f"[{self.name}] (forward {local} → {remote_path}: exit status {done.returncode})\n")
        return done.returncode == 0

    def transfer(self, command: str, data: bytes | None = None) -> tuple[int, bytes, str]:
        """`command` fed `data` (bytes, streamed through ssh) and its stdout as bytes: for dumps and rows, whose
        contents never reach the log. Returns (exit status, stdout, stderr). The output goes to an unlinked
        temporary file, not through this process while it runs: a thread that waits on this does not
        need Python's lock to keep ssh flowing while another thread computes."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
            status = subprocess.run(
                [*self.ssh_command(), self.name, command],
                input=data,
                stdin=subprocess.DEVNULL if data is None else None,
                stdout=out,
                stderr=errors,
            ).returncode
            with self.log.open("a") as log:
                log.write(f"[{self.name}] $ {command}\n(exit status {status}; data not logged)\n")
            out.seek(0)
            errors.seek(0)
            return status, out.read(), errors.read().decode("utf-8", errors="replace")

    def feed(self, command: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """`command` fed `chunks` as they are made: a thread writes each to ssh while the next is made, so
        that producing the input (masking a dump) and consuming it (loading it) overlap. Its output is
        discarded, its errors returned, neither logged. Returns (exit status, stderr). A command that
        exits early (an error) ends the feeding; one that making the chunks fails is killed."""
        pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [*self.ssh_command(), self.name, command],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            stdin = process.stdin
            assert stdin is not None
            closed = threading.Event()

            def write() -> None:
                while (chunk := pending.get()) is not None:
                    if not closed.is_set():
                        try:
                            stdin.write(chunk)
                        except BrokenPipeError:
                            closed.set()
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            try:
                for chunk in chunks:
                    if closed.is_set():
                        break
                    pending.put(chunk)
            except BaseException:
                process.kill()
                raise
            finally:
                pending.put(None)
                writer.join()
                status = process.wait()
                with self.log.open("a") as log:
                    log.write(f"[{self.name}] $ {command}\n(exit status {status}; data not logged)\n")
            errors.seek(0)
            return status, errors.read().decode("utf-8", errors="replace")

    def rsync(self, sources: Sequence[str], dest: str, *, options: Sequence[str] = (), pull: bool = False) -> None:
        """rsync sources to dest on this host (or, with pull, the host's sources to a local dest)."""
        remote_sources = [f"{self.name}:{s}" for s in sources] if pull else list(sources)
        target = dest if pull else f"{self.name}:{dest}"
        run(["rsync", "-a", "-e", shlex.join(self.ssh_command()), *options, *remote_sources, target], log=self.log)

    def follow(self, command: str) -> Iterator[str]:
        """The lines `command` prints (stdout and stderr), as they come: for logs, followed or not."""
        with self.log.open("a") as log:
            log.write(f"[{self.name}] $ {command}  (streamed, output not logged)\n")
        with subprocess.Popen(
            [*self.ssh_command(), self.name, command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                yield line.rstrip("\n")

    def shell(self) -> NoReturn:
        """This process becomes an interactive ssh session on the machine (a terminal, not BatchMode)."""
        os.execvp("ssh", ["ssh", "-F", str(self.ssh_config), self.name])


class Session:
    """A command on a host that lives exactly as long as this end's stdin to it is open.

    For state that must not outlive the push that made it (the push lock, an app server drained from
    Nginx): the command sets it up, prints a word, then waits for end of input before undoing it. When
    this process closes its end, exits, is killed (kill -9 included: the kernel closes the pipe) or its
    connection drops, the remote side reads end of input and undoes what it did; the remote command also
    bounds how long it waits, for a connection that hangs instead of dropping."""

    def __init__(self, remote: Remote, process: subprocess.Popen[str], command: str) -> None:
        self.remote = remote
        self.process = process
        self.command = command
        self.closed = False

    def tell(self, line: str, *, what: str | None = None) -> Output:
        """`line` as the command's last input, then its end: its output, logged and checked as `Remote.run`'s
        (ToolFailed when it fails). For a command started ahead of time that waits to be told what to do."""
        self.closed = True
        stdout, stderr = self.process.communicate(line + "\n")  # (one that ended already: its output, no error)
        return self.remote.ended(
            f"{self.command}  (told: {line})",
            self.process.returncode,
            stdout,
            stderr,
            check=True,
            what=what or f"`{self.command.splitlines()[0][:80]}`",
            private=False,
        )

    def expect(self, word: str, on_line: Callable[[str], None] = lambda line: None) -> None:
        """Read lines until one is `word`; every other line goes to `on_line` (e.g. "busy <holder>")."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.rstrip("\n") == word:
                return
            on_line(line.rstrip("\n"))
        status = self.process.wait()
        detail = last_line(Output(False, "", self.process.stderr.read() if self.process.stderr else ""))
        raise ToolFailed(f"{self.remote.name}: exited with status {status}: {detail}", f"log: {self.remote.log}")

    def end(self) -> None:
        """End of input: the remote side starts undoing its state."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()

    def close(self, timeout: float = 30) -> None:
        """End of input, then wait until the remote side has undone its state (once: closing again is
        nothing)."""
        if self.closed:
            return
        self.closed = True
        self.end()
        try:
            wait_exit(self.process, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with self.remote.log.open("a") as log:
            log.write(f"[{self.remote.name}] (held command ended with status {self.process.returncode})\n")


def wait_exit(process: subprocess.Popen[str], timeout: float) -> None:
    """`process.wait(timeout)`, woken by the exit itself (a pidfd): Popen's own wait with a timeout sleeps
    in steps that double up to 50 ms, so it sees an exit up to that late (~8 ms for a push lock held
    over ssh, or a drained server put back in rotation, each on a push's critical path)."""
    if process.poll() is None:
        try:
            exited = os.pidfd_open(process.pid)
        except OSError:  # (a kernel without pidfds: before Linux 5.3)
            process.wait(timeout)
            return
        try:
            select.select([exited], [], [], timeout)
        finally:
            os.close(exited)
    process.wait(0)  # (reaped; TimeoutExpired if it still runs)


def vagrant_config(ports: dict[str, int], identities: Sequence[Path]) -> str:
    """An ssh config for machines reached on 127.0.0.1 at `ports` (node → port), as `vagrant ssh-config`
    writes it for them (Vagrant's own settings: its machines' host keys change with every machine)."""
    keys = "".join(f"  IdentityFile {key}\n" for key in identities)
    hosts = []
    for node, port in ports.items():
        hosts.append(
            f"Host {node}\n  HostName 127.0.0.1\n  User vagrant\n  Port {port}\n  UserKnownHostsFile /dev/null\n"
            f"  StrictHostKeyChecking no\n  PasswordAuthentication no\n{keys}  IdentitiesOnly yes\n  LogLevel FATAL\n"
        )
    return "\n".join(hosts)


def commands(*argvs: Sequence[str]) -> str:
    """A shell command line running each argv in turn while they succeed, every word quoted for sh."""
    return " && ".join(shlex.join(argv) for argv in argvs)


def error_line(output: str) -> str:
    """The first line that says ERROR (else the last line) of a database client's output."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return next((ln for ln in lines if "ERROR" in ln or "error" in ln), lines[-1] if lines else "(no output)")


def redact(line: str) -> str:
    """Quoted values and the DETAIL/row text after an error message, masked: a database client's errors can
    quote a row (`Duplicate entry 'anna@…'`), and none may reach a log or a terminal."""
    line = re.split(r"\b(DETAIL|CONTEXT|Key \()", line)[0].rstrip()
    return _QUOTED.sub(lambda m: m.group(1) + "…" + m.group(1), line)


_QUOTED = re.compile(r"""(')(?:[^'\\]|\\.|'')*'""")


def last_line(output: Output) -> str:
    """The error a remote Python (or shell) ended with, with the file:line of a traceback if any."""
    lines = [ln.strip() for ln in (output.stdout + output.stderr).splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    where = [m for m in map(_PY_LOCATION.search, lines) if m]
    return f"{where[-1]['file']}:{where[-1]['line']}: {lines[-1]}" if where else lines[-1]


_PY_LOCATION = re.compile(r'File "(?:\./)?(?P<file>[^"]+)", line (?P<line>\d+)')
