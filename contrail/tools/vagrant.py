"""Vagrant: an environment's `up --provision`, `destroy` and `ssh-config` (through python-vagrant, with
its environment variables set in this one place and its output streamed to a log and to progress), and
the facts and commands around it: where its public insecure key is, which boxes are installed, adding one."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing
from contrail.tools.run import run

if TYPE_CHECKING:
    import vagrant

ENV = {"VAGRANT_CHECKPOINT_DISABLE": "1"}  # with VAGRANT_DEFAULT_PROVIDER, every Vagrant run's environment
_MACHINE_LINE = re.compile(r"^==> (?P<node>[\w-]+): (?P<text>.*)$")
# Debian's vagrant package, then HashiCorp's own packaging.
_KEY_GLOBS = (
    "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/*/gems/vagrant-*/keys/vagrant.pub",
)


def insecure_public_key() -> str:
    """Vagrant's public insecure key, put in every box; Vagrant replaces it on a machine's first up."""
    return _insecure_key(".pub").read_text(encoding="ascii").strip()


def insecure_private_key() -> Path:
    """Vagrant's private insecure key: what builds of VM boxes log in with, as Vagrant does at first up."""
    return _insecure_key("")


def _insecure_key(suffix: str) -> Path:
    for pattern in _KEY_GLOBS:
        for path in sorted(glob.glob(pattern)):
            key = Path(path).with_suffix(suffix)
            if key.is_file():
                return key
    raise ToolMissing(f"Vagrant's insecure key (keys/vagrant{suffix}) was not found", FIX_DEPS)


def home() -> Path:
    return Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def installed_versions(box: str, provider: str) -> list[str]:
    """Versions of `box` installed for `provider` (Vagrant's own layout under VAGRANT_HOME/boxes)."""
    folder = home() / "boxes" / box.replace("/", "-VAGRANTSLASH-")
    return sorted(v.parent.name for v in folder.glob(f"*/{provider}") if v.is_dir()) if folder.is_dir() else []


def box_add(metadata_url: str, provider: str, version: str, log: Path, on_line: Callable[[str], None]) -> None:
    """`vagrant box add` from a catalog's metadata.json (Vagrant checks the box's sha256)."""
    args = ["vagrant", "box", "add", "--provider", provider, *(["--box-version", version] if version else [])]
    run([*args, metadata_url], log=log, on_line=on_line, env=ENV)


def box_remove(box: str, provider: str, version: str, log: Path) -> bool:
    """`vagrant box remove` of one version; False when Vagrant refuses (a machine still uses it)."""
    args = ["vagrant", "box", "remove", "--provider", provider, "--box-version", version, box]
    return run(args, log=log, env=ENV, check=False).status == 0


def machine(directory: Path, provider: str, log: Path) -> vagrant.Vagrant:
    """The Vagrant environment in `directory`; Vagrant's stderr goes to `log`. (python-vagrant is imported
    here, not with this module: importing it looks for the vagrant executable and prints when it is missing,
    and a push or a `team init` never needs it.)"""
    import vagrant

    stderr_to_log = vagrant.make_file_cm(str(log), mode="a")
    env = {**os.environ, **ENV, "VAGRANT_DEFAULT_PROVIDER": provider}
    if provider == "docker":
        # The docker provider is Vagrant's own: loading the plugins (vagrant-libvirt and its fog and
        # nokogiri) would cost every run about a second of Ruby for nothing.
        env["VAGRANT_NO_PLUGINS"] = "1"
    return vagrant.Vagrant(root=str(directory), env=env, err_cm=stderr_to_log)


def up(directory: Path, provider: str, log: Path, on_node: Callable[[str, str], None], what: str) -> vagrant.Vagrant:
    """`vagrant up --provision` (configuration is re-applied to machines that already run: the scripts
    are idempotent), each machine's lines to `on_node(node, text)`."""
    runner = machine(directory, provider, log)
    stream(runner.up(provider=provider, provision=True, stream_output=True), log, on_node, what)
    return runner


def destroy(directory: Path, provider: str, log: Path) -> None:
    try:
        machine(directory, provider, log).destroy()
    except subprocess.CalledProcessError as err:
        raise ToolFailed(f"vagrant destroy failed (status {err.returncode})", f"log: {log}") from None


def stream(lines: Iterable[str], log: Path, on_node: Callable[[str, str], None], what: str) -> None:
    started = time.monotonic()
    try:
        with log.open("a") as out:
            for raw in lines:
                line = raw.rstrip()
                out.write(f"[{time.monotonic() - started:6.1f}s] {line}\n")
                match = _MACHINE_LINE.match(line)
                if match:
                    on_node(match["node"], match["text"])
                else:
                    on_node("", line)
    except subprocess.CalledProcessError as err:
        # Vagrant's stderr goes to the same log without our time stamps: its last lines say what failed.
        said_lines = [ln.strip() for ln in log.read_text().splitlines() if ln.strip()]
        said = [ln for ln in said_lines if not ln.startswith("[")] or said_lines
        raise ToolFailed(f"{what} failed (status {err.returncode}): {' | '.join(said[-3:])}", f"log: {log}") from None
