"""The VM base: the same debootstrap as the docker base (boxes/base.toml) plus its [vm] packages, written
into a bootable qcow2 disk with no ISO and no installer, for the libvirt provider's role builds.

    debootstrap → Contrail's VM files (provision_scripts/vm/) and Vagrant's way in → an ext4 file system
    made from the directory (mkfs.ext4 -d, no loop device, no mount) inside a partitioned disk → one boot
    of the disk's own kernel under QEMU that installs GRUB → qcow2.

A VM box runs what a docker box runs: PID 1 is contrail-init, which does what Docker does for a
container (file systems, hostname, network) and then runs supervisord, so every role script and every
role's services are the same on both providers, and a VM boots in seconds under TCG where systemd
would take far longer.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

from contrail import BOX_FORMAT
from contrail.boxes import inputs
from contrail.boxes.base import BASE_ROLE, BaseSpec, slim
from contrail.boxes.images import Box
from contrail.boxes.vmstore import DISK, RECORD, VmBoxStore
from contrail.digest import file_sha256
from contrail.errors import BuildFailed
from contrail.tools import apt_sources, qemu
from contrail.tools.debootstrap import debootstrap
from contrail.tools.run import run
from contrail.workspace import Workspace

DISK_GB = 8  # the disk's virtual size (sparse): what a VM box's root file system can grow to
PARTITION_START = 2048  # sectors: 1 MiB, where partitioning tools put the first partition (room for GRUB)
SECTOR = 512
ROOT_LABEL = "contrail-root"
GRUB_TIMEOUT = 300.0
KERNEL, INITRD = "vmlinuz", "initrd.img"
VM_FILES = ("contrail-init", "contrail-poweroff", "install-grub")
POWER_COMMANDS = ("shutdown", "poweroff", "halt", "reboot")


def vm_base_hash(ws: Workspace, spec: BaseSpec, pubkey: str) -> str:
    parts = [BOX_FORMAT.encode(), spec.input_hash.encode(), pubkey.encode()]
    vm_dir = ws.scripts_dir / "vm"
    for path in [*sorted(vm_dir.iterdir()), ws.shared_files / "vagrant-access.sh"]:
        parts += [path.name.encode(), path.read_bytes()]
    return inputs.digest(parts)


def disk_checksum(box: Box) -> str:
    """What a VM source of the template starts from (the VM base's disk; for VirtualBox its OVF
    descriptor): its sha256 as Packer checks it (`sha256:…`), kept in the base's record."""
    return "sha256:" + json.loads((Path(box.image_id) / RECORD).read_text())["sha256"]


def ensure_vm_base(
    ws: Workspace,
    store: VmBoxStore,
    spec: BaseSpec,
    *,
    pubkey: str,
    accel: str,
    http_proxy: str | None,
    on_line: Callable[[str], None],
) -> tuple[Box, bool]:
    """The VM base for `spec` — (box, built?) — building it only when none has its input hash."""
    input_hash = vm_base_hash(ws, spec, pubkey)
    existing = store.with_hash(BASE_ROLE, input_hash)
    if existing:
        if not existing.is_current:
            existing = store.promote(existing.image_id)
        return existing, False
    log = ws.new_log("build-vm-base")
    staged = store.staging(BASE_ROLE)
    try:
        with tempfile.TemporaryDirectory(prefix="contrail-vm-base-", dir=staged.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            debootstrap(
                rootfs,
                suite=spec.suite,
                mirror=apt_sources.host_mirror(),
                variant=spec.variant,
                include=(*spec.packages, *spec.vm_packages),
                log=log,
                on_line=on_line,
                http_proxy=http_proxy,
            )
            slim(rootfs, spec.exclude)
            configure(ws, rootfs, pubkey, log)
            kernel, initrd = boot_files(rootfs)
            shutil.copyfile(kernel, staged / KERNEL)
            shutil.copyfile(initrd, staged / INITRD)
            raw = Path(tmp) / "disk.raw"
            on_line("writing the root file system into a disk image")
            make_disk(rootfs, raw, log)
            on_line(f"installing GRUB (one boot under {accel.upper()})")
            install_grub(raw, staged / KERNEL, staged / INITRD, accel, log)
            on_line("converting the disk to qcow2")
            run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(staged / DISK)], log=log)
        return store.promote_new(staged, BASE_ROLE, input_hash, sha256=file_sha256(staged / DISK)), True
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def configure(ws: Workspace, rootfs: Path, pubkey: str, log: Path) -> None:
    """Contrail's init and power commands, the network and GRUB settings, and Vagrant's way in."""
    vm = ws.scripts_dir / "vm"
    sbin = rootfs / "usr" / "local" / "sbin"
    for name in VM_FILES:
        shutil.copyfile(vm / name, sbin / name)
        (sbin / name).chmod(0o755)
    for name in POWER_COMMANDS:
        (sbin / name).symlink_to("contrail-poweroff")
    shutil.copyfile(vm / "interfaces", rootfs / "etc" / "network" / "interfaces")
    shutil.copyfile(vm / "grub", rootfs / "etc" / "default" / "grub")
    (rootfs / "etc" / "hostname").write_text("contrail\n")
    (rootfs / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tcontrail\n::1\tlocalhost ip6-localhost\n")
    (rootfs / "etc" / "fstab").write_text(f"LABEL={ROOT_LABEL}\t/\text4\terrors=remount-ro\t0\t1\n")
    access = rootfs / "tmp" / "vagrant-access.sh"
    shutil.copyfile(ws.shared_files / "vagrant-access.sh", access)
    try:
        run(["chroot", str(rootfs), "bash", "/tmp/vagrant-access.sh"], env={"CONTRAIL_VAGRANT_PUBKEY": pubkey}, log=log)
    finally:
        access.unlink()


def boot_files(rootfs: Path) -> tuple[Path, Path]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise BuildFailed("the VM base has no kernel", "boxes/base.toml [vm] packages must name one")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    return kernels[-1], rootfs / "boot" / f"initrd.img-{version}"


def make_disk(rootfs: Path, raw: Path, log: Path) -> None:
    """A sparse disk: an MBR with one bootable Linux partition from 1 MiB, holding an ext4 file system
    made from `rootfs` (mkfs.ext4 -d writes it at the partition's offset: no loop device, no mount)."""
    size = DISK_GB * 1024**3
    with raw.open("wb") as disk:
        disk.truncate(size)
        disk.seek(446)
        disk.write(mbr_partition(PARTITION_START, size // SECTOR - PARTITION_START) + bytes(48) + b"\x55\xaa")
    kib = (size - PARTITION_START * SECTOR) // 1024
    offset = f"offset={PARTITION_START * SECTOR}"
    run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(rootfs), "-E", offset, str(raw), f"{kib}k"], log=log)


def mbr_partition(start: int, sectors: int) -> bytes:
    """One MBR partition entry: bootable, type 0x83 (Linux), addressed by LBA (CHS fields saturated)."""
    return struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", start, sectors)


def install_grub(raw: Path, kernel: Path, initrd: Path, accel: str, log: Path) -> None:
    args = [
        *qemu.base_args(accel, 512),
        "-no-reboot",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        "root=/dev/vda1 rw init=/usr/local/sbin/install-grub console=ttyS0 panic=-1 net.ifnames=0",
        "-drive",
        f"file={raw},if=virtio,format=raw",
        "-nic",
        "none",
    ]
    serial, _ = qemu.run_until(args, (), GRUB_TIMEOUT, log)
    if serial.status != 0 or "contrail: grub installed" not in serial.output:
        raise BuildFailed(f"installing GRUB on the VM base failed: {serial.tail()}", f"log: {log}")
