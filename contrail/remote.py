"""One app-environment host over SSH: commands through Fabric, files through rsync.

Both read the same ssh config (from `vagrant ssh-config`, or any file for real hosts). rsync's ssh
keeps a control master per host for a minute, so the transfers of consecutive pushes skip the
handshake.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fabric import Config, Connection

from contrail.errors import ToolFailed
from contrail.tools.run import run


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
        self.connection = Connection(name, config=Config(runtime_ssh_path=str(ssh_config)))

    def run(self, command: str, *, check: bool = True) -> Output:
        result = self.connection.run(command, hide=True, warn=True, in_stream=False)
        with self.log.open("a") as log:
            log.write(f"[{self.name}] $ {command}\n{result.stdout}{result.stderr}")
        output = Output(result.ok, result.stdout, result.stderr)
        if check and not result.ok:
            raise ToolFailed(
                f"{self.name}: `{command.splitlines()[0][:80]}` failed: {last_line(output)}", f"log: {self.log}"
            )
        return output

    def ssh_command(self) -> list[str]:
        self.control_dir.mkdir(parents=True, exist_ok=True)
        return [
            "ssh",
            "-F",
            str(self.ssh_config),
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={self.control_dir}/%C",
            "-o",
            "ControlPersist=60",
        ]

    def rsync(self, sources: Sequence[str], dest: str, *, options: Sequence[str] = (), pull: bool = False) -> None:
        """rsync sources to dest on this host (or, with pull, the host's sources to a local dest)."""
        remote_sources = [f"{self.name}:{s}" for s in sources] if pull else list(sources)
        target = dest if pull else f"{self.name}:{dest}"
        args = ["rsync", "-a", "-e", shlex.join(self.ssh_command()), *options, *remote_sources, target]
        run(args, log=self.log)

    def close(self) -> None:
        self.connection.close()


def last_line(output: Output) -> str:
    lines = [ln.strip() for ln in (output.stderr + output.stdout).splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"
