"""libvirt through virsh (qemu:///system): whether libvirtd answers, starting it where no init system
does, and what an environment has in it (domains, volumes, networks) by name prefix.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from contrail.errors import FIX_DEPS, ToolFailed, ToolMissing
from contrail.tools.run import Completed, run

URI = "qemu:///system"
POOL = "default"  # vagrant-libvirt's storage pool
KVM_GROUP = "kvm"
START_SECONDS = 20.0


def virsh(*args: str, check: bool = True) -> Completed:
    return run(["virsh", "-q", "-c", URI, *args], check=check)


def answers() -> bool:
    if not shutil.which("virsh"):
        raise ToolMissing("`virsh` is not installed (Debian package libvirt-clients)", FIX_DEPS)
    return run(["virsh", "-c", URI, "version"], check=False).status == 0


def version() -> str:
    lines = [ln for ln in run(["virsh", "-c", URI, "version"]).output.splitlines() if "hypervisor" in ln.lower()]
    return lines[0].split(":", 1)[1].strip() if lines else "answering"


def start_daemon(log: Path, on_line: Callable[[str], None]) -> None:
    """virtlogd and libvirtd started in the background when nothing runs them (no systemd here), after
    /dev/kvm is given to group kvm as Debian's udev rule does: libvirt judges KVM by whether its QEMU user
    can open it, and otherwise throws its capability cache away and probes QEMU again on every call
    (8 s each here)."""
    kvm_device_like_udev()
    for daemon in ("virtlogd", "libvirtd"):
        if not shutil.which(daemon):
            raise ToolMissing(f"`{daemon}` is not installed (Debian package libvirt-daemon-system)", FIX_DEPS)
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
            on_line(f"starting {daemon}")
            run([daemon, "--daemon"], log=log)
    deadline = time.monotonic() + START_SECONDS
    while not answers():
        if time.monotonic() > deadline:
            raise ToolFailed(f"libvirtd did not answer within {START_SECONDS:.0f} s", f"see {log}")
        time.sleep(0.3)


def kvm_device_like_udev() -> None:
    device = Path("/dev/kvm")
    try:
        group = grp.getgrnam(KVM_GROUP).gr_gid
        st = device.stat()
    except (KeyError, FileNotFoundError):
        return
    if st.st_gid == 0 and stat.S_IMODE(st.st_mode) == 0o600 and os.geteuid() == 0:
        os.chown(device, 0, group)
        device.chmod(0o660)


def _names(*args: str) -> list[str]:
    done = virsh(*args, check=False)
    return [ln.strip() for ln in done.output.splitlines() if ln.strip()] if done.status == 0 else []


def domains(prefix: str) -> dict[str, str]:
    """domain name → state ("running", "paused", "shut off", …) for domains named `prefix…`."""
    found = {}
    for name in _names("list", "--all", "--name"):
        if name.startswith(prefix):
            found[name] = virsh("domstate", name, check=False).output.strip() or "unknown"
    return found


def domain_state(name: str) -> str:
    done = virsh("domstate", name, check=False)
    return done.output.strip() if done.status == 0 else "missing"


def volumes(prefix: str) -> list[str]:
    return [v for v in (ln.split()[0] for ln in _names("vol-list", POOL) if ln.split()) if v.startswith(prefix)]


def backing_volumes() -> set[str]:
    """Names of the pool's volumes that another volume is layered on (a machine's disk on its box's):
    such a volume must stay while that disk does."""
    backing = set()
    for volume in volumes(""):
        xml = virsh("vol-dumpxml", "--pool", POOL, volume, check=False).output
        if xml.strip().startswith("<"):
            path = ElementTree.fromstring(xml).findtext("backingStore/path")
            if path:
                backing.add(Path(path).name)
    return backing


def networks(prefix: str) -> list[str]:
    return [n for n in _names("net-list", "--all", "--name") if n.startswith(prefix)]


def destroy_domain(name: str) -> None:
    """Stopped at once (power cut) and undefined with its storage: what `vagrant destroy` would do."""
    virsh("destroy", name, check=False)
    virsh("undefine", name, "--remove-all-storage", "--managed-save", "--snapshots-metadata", check=False)


def delete_volume(name: str) -> None:
    virsh("vol-delete", "--pool", POOL, name, check=False)


def delete_network(name: str) -> None:
    virsh("net-destroy", name, check=False)
    virsh("net-undefine", name, check=False)
