"""QEMU, run directly (not through libvirt): the acceleration probe, the VM base's one boot, and a built
VM box started for its smoke check. Serial console on stdout, no display, user-mode networking.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from contrail.errors import FIX_DEPS, BuildFailed, ToolMissing

QEMU = "qemu-system-x86_64"
KVM_DEVICE = Path("/dev/kvm")
# What a kernel prints once it runs its own code past early boot: with no disk and no initrd it then
# panics for want of a root filesystem (Linux: "VFS: Unable to mount root fs" / "Kernel panic").
KERNEL_RAN = ("Kernel panic", "VFS: Unable to mount root", "VFS: Cannot open root device")
PROBE_SECONDS = 20.0


def qemu() -> str:
    path = shutil.which(QEMU)
    if not path:
        raise ToolMissing(f"`{QEMU}` is not installed (Debian package qemu-system-x86)", FIX_DEPS)
    return path


def base_args(accel: str, memory_mb: int) -> list[str]:
    cpu = ["-cpu", "max"] if accel == "tcg" else ["-cpu", "host"]
    return [qemu(), "-accel", accel, *cpu, "-m", str(memory_mb), "-smp", "2", "-nographic", "-no-user-config"]


@dataclass(frozen=True)
class Serial:
    """What a QEMU run printed on its serial console, and how it ended."""

    output: str
    status: int | None  # None: still running when the wait ended (then killed)
    seconds: float

    def tail(self, lines: int = 3) -> str:
        return " | ".join(ln.strip() for ln in self.output.strip().splitlines()[-lines:]) or "(nothing)"

    def first_error(self) -> str:
        """QEMU's own first complaint (`qemu-system-x86_64: error: …`), else the last line printed."""
        errors = [ln.strip() for ln in self.output.splitlines() if "error" in ln.lower()]
        return errors[0] if errors else self.tail(1)


def run_until(args: Sequence[str], markers: Sequence[str], timeout: float, log: Path | None) -> tuple[Serial, bool]:
    """Run QEMU until it exits or prints one of `markers` (then it is killed); (serial, marker seen?)."""
    started = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    chunks: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            chunks.append(raw.decode("utf-8", "replace"))
            if any(m in chunks[-1] for m in markers):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = started + timeout
    while proc.poll() is None and not seen.is_set() and time.monotonic() < deadline:
        seen.wait(0.1)
    status = proc.poll()
    if status is None:
        proc.kill()
    proc.wait()
    reader.join(timeout=2)
    output = "".join(chunks)
    if log:
        with log.open("a") as out:
            out.write(f"$ {' '.join(args)}\n{output}\n")
    return Serial(output, status, time.monotonic() - started), seen.is_set()


@dataclass(frozen=True)
class Acceleration:
    accel: str  # "kvm" or "tcg"
    reason: str

    @property
    def libvirt_driver(self) -> str:
        """vagrant-libvirt's `driver`: a kvm domain, or a plain qemu one (TCG)."""
        return "kvm" if self.accel == "kvm" else "qemu"


def probe(kernel: Path, log: Path | None = None, timeout: float = PROBE_SECONDS) -> Acceleration:
    """KVM where a test VM really boots on it, TCG otherwise: boot `kernel` (no disk) under KVM and watch
    it reach its root-mount step; a /dev/kvm that exists is not proof (a paravirtual KVM can refuse the
    CPU's MSRs or hang once the kernel starts)."""
    if not KVM_DEVICE.exists():
        return _tcg(kernel, log, timeout, "no /dev/kvm on this host")
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return _tcg(kernel, log, timeout, f"{KVM_DEVICE} is not readable and writable by this user")
    args = [*base_args("kvm", 256), "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1", "-no-reboot"]
    serial, booted = run_until(args, KERNEL_RAN, timeout, log)
    if booted:
        return Acceleration("kvm", f"a test kernel booted under KVM in {serial.seconds:.1f} s")
    why = (
        f"QEMU failed under KVM ({serial.first_error()})"
        if serial.status is not None
        else f"a test kernel under KVM did not reach its root-mount step in {timeout:.0f} s"
    )
    return _tcg(kernel, log, timeout, why)


def _tcg(kernel: Path, log: Path | None, timeout: float, why: str) -> Acceleration:
    args = [*base_args("tcg", 256), "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1", "-no-reboot"]
    serial, booted = run_until(args, KERNEL_RAN, timeout * 3, log)
    if not booted:
        raise ToolMissing(
            f"no virtual machine boots on this host: {why}; under TCG neither ({serial.first_error()})",
            "VM boxes need QEMU that runs; the docker provider does not",
        )
    return Acceleration("tcg", f"{why}; TCG (software emulation) booted it in {serial.seconds:.1f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(disk: Path, accel: str, log: Path, memory_mb: int = 1024, bus: str = "virtio") -> Iterator[int]:
    """`disk` (qcow2 or VMDK) on a `bus` controller (virtio, or ide: PIIX's, as VirtualBox's) booted by its
    own bootloader, changes discarded (snapshot), a virtio NIC with SSH forwarded from a loopback port
    (yielded); the VM is killed on exit."""
    port = free_port()
    fmt = "vmdk" if disk.suffix == ".vmdk" else "qcow2"
    args = [
        *base_args(accel, memory_mb),
        "-drive",
        f"file={disk},if={bus},format={fmt},snapshot=on",
        "-nic",
        f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{port}-:22",
    ]
    with log.open("a") as out:
        out.write(f"$ {' '.join(args)}\n")
        out.flush()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.2)
        if proc.poll() is not None:
            raise BuildFailed(f"QEMU exited at once (status {proc.returncode})", f"log: {log}")
        yield port
    finally:
        proc.kill()
        proc.wait()
