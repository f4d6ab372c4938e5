"""What Contrail needs on the host, whether it is there, and (--fix) installing what is missing.

`make deps` runs `contrail doctor --fix`, so there is one list of prerequisites and one installer.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from contrail.errors import ContrailError, ToolMissing
from contrail.tools import accel, docker, libvirt
from contrail.tools.run import run
from contrail.workspace import data_dir


@dataclass(frozen=True)
class Requirement:
    name: str
    package: str  # Debian package that provides it
    command: str
    version_args: tuple[str, ...]
    installed: str = ""  # a path glob that shows it is installed, for a package with no command of its own


REQUIREMENTS = (
    Requirement("docker engine", "docker.io", "dockerd", ("dockerd", "--version")),
    Requirement("packer", "packer", "packer", ("packer", "version")),
    Requirement("vagrant", "vagrant", "vagrant", ("vagrant", "--version")),
    Requirement("debootstrap", "debootstrap", "debootstrap", ("debootstrap", "--version")),
    Requirement("rsync", "rsync", "rsync", ("rsync", "--version")),
    Requirement("ssh client", "openssh-client", "ssh", ("ssh", "-V")),
    Requirement("git", "git", "git", ("git", "--version")),
    # `contrail catalog serve`: the team catalog's static server and image registry.
    Requirement("nginx", "nginx", "nginx", ("nginx", "-v")),
    Requirement("docker-registry", "docker-registry", "docker-registry", ("docker-registry", "--version")),
    # Real VMs (the libvirt provider): QEMU, libvirt and its DHCP server, vagrant-libvirt, and what the VM
    # base's disk is made with.
    Requirement("qemu", "qemu-system-x86", "qemu-system-x86_64", ("qemu-system-x86_64", "--version")),
    Requirement("qemu-img", "qemu-utils", "qemu-img", ("qemu-img", "--version")),
    Requirement("libvirt", "libvirt-daemon-system", "libvirtd", ("libvirtd", "--version")),
    Requirement("dnsmasq", "dnsmasq-base", "dnsmasq", ("dnsmasq", "--version")),
    Requirement("mkfs.ext4", "e2fsprogs", "mkfs.ext4", ("mkfs.ext4", "-V")),
    Requirement(
        "vagrant-libvirt",
        "vagrant-libvirt",
        "",
        (),
        installed="/usr/share/rubygems-integration/all/specifications/vagrant-libvirt-*.gemspec",
    ),
)


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    package: str | None = None
    required: bool = True  # False: only VMs (the libvirt provider) need it; containers work without it


def diagnose(refresh: bool = False) -> list[Finding]:
    with ThreadPoolExecutor(max_workers=len(REQUIREMENTS) + 2) as pool:
        found = list(pool.map(_check, REQUIREMENTS))
        daemons = [pool.submit(_daemon), pool.submit(_libvirtd)]
        found += [d.result() for d in daemons]
    if all(f.ok for f in found if f.name in ("qemu", "libvirtd answering")):
        found.append(_acceleration(refresh))
    return found


def _check(req: Requirement) -> Finding:
    if req.installed:
        paths = glob.glob(req.installed)
        if not paths:
            return Finding(req.name, False, f"not installed (Debian package {req.package})", req.package)
        return Finding(req.name, True, Path(paths[0]).name.removesuffix(".gemspec"))
    if not shutil.which(req.command):
        return Finding(req.name, False, f"not installed (Debian package {req.package})", req.package)
    done = run(req.version_args, check=False)
    lines = [ln for ln in done.output.splitlines() if ln.strip()]
    return Finding(req.name, True, lines[0].strip() if lines else "installed")


def _daemon() -> Finding:
    try:
        return Finding("dockerd answering", True, f"engine {docker.server_version()}")
    except ToolMissing as err:
        return Finding("dockerd answering", False, err.message)


def _libvirtd() -> Finding:
    if not shutil.which("virsh"):
        return Finding("libvirtd answering", False, "not installed (Debian package libvirt-daemon-system)", None, False)
    if not libvirt.answers():
        return Finding("libvirtd answering", False, "not running (`contrail doctor --fix` starts it)", None, False)
    return Finding("libvirtd answering", True, f"{libvirt.version()} through {libvirt.URI}")


def _acceleration(refresh: bool) -> Finding:
    """Which accelerator VMs get here, and why (a probe boots a kernel; its answer is kept)."""
    try:
        found = accel.acceleration(data_dir(), refresh=refresh)
    except ContrailError as err:
        return Finding("VM acceleration", False, err.message, None, False)
    return Finding("VM acceleration", True, f"{found.accel.upper()}: {found.reason}")


def fix(log: Path, on_line: Callable[[str], None]) -> list[Finding]:
    """Install missing Debian packages, start dockerd and libvirtd when nothing answers, probe which
    accelerator VMs get; then diagnose again."""
    missing = [f.package for f in diagnose() if f.package]
    if missing:
        if os.geteuid() != 0:
            raise ContrailError(f"missing packages: {' '.join(missing)}", "run `contrail doctor --fix` as root")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], log=log, on_line=on_line, env=env)
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
        quiet = [p for p in missing if p in QUIET_PACKAGES]
        if quiet:
            with _services_not_started():
                run([*install, *quiet], log=log, on_line=on_line, env=env)
        if len(quiet) < len(missing):
            run([*install, *(p for p in missing if p not in quiet)], log=log, on_line=on_line, env=env)
    try:
        docker.server_version()
    except ToolMissing:
        if "DOCKER_HOST" in os.environ:
            raise
        docker.start_daemon(log.with_name("dockerd.log"), on_line)
    if not libvirt.answers():
        try:
            libvirt.start_daemon(log, on_line)
        except ContrailError as err:  # containers work without it: `libvirtd answering` says why
            on_line(f"libvirtd: {err.message}")
    return diagnose(refresh=True)


POLICY = Path("/usr/sbin/policy-rc.d")
QUIET_PACKAGES = ("nginx", "docker-registry")  # Contrail starts its own instances of these


@contextlib.contextmanager
def _services_not_started() -> Iterator[None]:
    """Debian starts a package's service on install (nginx on *:80, docker-registry on *:5000); Contrail
    runs its own instances on loopback, so installs go through Debian's policy-rc.d "deny" (101)."""
    if POLICY.exists():
        yield
        return
    POLICY.write_text("#!/bin/sh\n# contrail doctor --fix: no service starts during this install\nexit 101\n")
    POLICY.chmod(0o755)
    try:
        yield
    finally:
        POLICY.unlink(missing_ok=True)
