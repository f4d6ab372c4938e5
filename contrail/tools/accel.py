"""Which accelerator this host's VMs run with, chosen by a probe (qemu.probe) and remembered.

The probe boots a real kernel: Debian's cloud kernel, fetched once from the host's own apt sources
(`apt-get download`) into the caller's directory (Contrail's data directory). Its answer is kept there in
acceleration.json with what it depends on (QEMU's version, whether /dev/kvm exists); `contrail doctor
--fix` probes again.
CONTRAIL_ACCEL=kvm|tcg overrides the probe (a machine whose KVM is known good or known broken).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from contrail.errors import ConfigError, ToolFailed
from contrail.tools import qemu
from contrail.tools.run import run

KERNEL_PACKAGE = "linux-image-cloud-amd64"  # a metapackage: it depends on the current kernel's package
ACCELERATORS = ("kvm", "tcg")


def probe_kernel(directory: Path, log: Path | None = None) -> Path:
    """A kernel to boot: Debian's cloud kernel, fetched once (kept in `directory`/probe)."""
    target = directory / "probe" / "vmlinuz"
    if target.exists():
        return target
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    depends = run(["apt-cache", "depends", KERNEL_PACKAGE], check=False, env=env)
    if depends.status != 0:  # no package lists yet on a new machine
        run(["apt-get", "update", "-q"], log=log, env=env)
        depends = run(["apt-cache", "depends", KERNEL_PACKAGE], env=env)
    match = re.search(r"Depends: (linux-image-\S+)", depends.output)
    if not match:
        raise ToolFailed(f"{KERNEL_PACKAGE} names no kernel package in this host's apt sources")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="contrail-kernel-", dir=target.parent) as tmp:
        run(["apt-get", "download", "-q", match.group(1)], log=log, env=env, cwd=tmp)
        deb = next(Path(tmp).glob("*.deb"))
        run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "unpacked")], log=log)
        kernels = sorted((Path(tmp) / "unpacked" / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise ToolFailed(f"{deb.name} holds no kernel")
        os.replace(kernels[-1], target)
    return target


def _depends_on() -> dict[str, object]:
    version = run([qemu.qemu(), "--version"]).output.splitlines()[0]
    return {"qemu": version, "kvm_device": qemu.KVM_DEVICE.exists()}


def acceleration(directory: Path, refresh: bool = False, log: Path | None = None) -> qemu.Acceleration:
    """The accelerator VMs get on this host; a probe's answer kept in `directory` is reused while what
    it depends on is unchanged."""
    forced = os.environ.get("CONTRAIL_ACCEL")
    if forced:
        if forced not in ACCELERATORS:
            raise ConfigError(f"CONTRAIL_ACCEL={forced!r} is not one of {', '.join(ACCELERATORS)}", "unset it to probe")
        return qemu.Acceleration(forced, "CONTRAIL_ACCEL is set")
    depends_on = _depends_on()
    cache = directory / "acceleration.json"
    if not refresh and cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("depends_on") == depends_on:
            return qemu.Acceleration(saved["accel"], saved["reason"])
    found = qemu.probe(probe_kernel(directory, log), log)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"accel": found.accel, "reason": found.reason, "depends_on": depends_on}) + "\n")
    os.replace(tmp, cache)
    return found
