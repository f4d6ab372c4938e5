"""What differs between the providers a box is built for: where boxes are kept, the base a role build
starts from, which source of the Packer template builds it and with which values, what the build needs
running, how a built box is smoke-checked before it is tagged, and how a build that failed its check is
discarded. The rest of a build (inputs and their hash, role scripts, progress, logs, the tag only after
success) is the same for every provider (build.py).
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from contrail.boxes import ovf, vmbase
from contrail.boxes.base import BaseSpec, ensure_base
from contrail.boxes.images import Box, BoxStore
from contrail.boxes.vmstore import DISK, RECORD, VmBoxStore, box_file
from contrail.digest import file_sha256
from contrail.errors import FIX_DEPS, BuildFailed, ConfigError, ToolMissing
from contrail.tools import accel, docker, qemu, vagrant
from contrail.tools.run import Completed, run
from contrail.workspace import Workspace, data_dir

# Every box runs sshd under supervisor; the role's own check comes after this one.
COMMON_SMOKE = "nc -z 127.0.0.1 22"


class Store(Protocol):
    """Where a provider's boxes are kept (BoxStore: docker images; VmBoxStore: files)."""

    namespace: str

    def all(self) -> list[Box]: ...

    def current(self, role: str) -> Box | None: ...

    def with_hash(self, role: str, input_hash: str) -> Box | None: ...

    def next_version(self, role: str) -> str: ...

    def promote(self, artifact: str) -> Box: ...


class Builder(Protocol):
    provider: str  # Vagrant's name for the provider the boxes are for
    packer_source: str  # the template's source block (`packer build -only`)
    packaging: bytes  # what the builder writes into every box besides Packer's output (part of its hash)

    def require(self) -> None:
        """What builds need is running (ToolMissing with the fix otherwise)."""
        ...

    def store(self, namespace: str) -> Store: ...

    def base_hash(self, ws: Workspace, spec: BaseSpec, pubkey: str) -> str: ...

    def ensure_base(
        self,
        ws: Workspace,
        store: Store,
        spec: BaseSpec,
        pubkey: str,
        http_proxy: str | None,
        on_line: Callable[[str], None],
    ) -> tuple[Box, bool]: ...

    def build_proxy(self, url: str | None) -> str:
        """The apt proxy's URL as a machine being built reaches it."""
        ...

    def workdir(self, store: Store, role: str) -> Path:
        """A new directory for one build's files."""
        ...

    def variables(self, base: Box, workdir: Path) -> dict[str, str]:
        """The template's variables for this provider's source."""
        ...

    def artifact(self, artifact_id: str, workdir: Path, labels: dict[str, str]) -> str:
        """What `store.promote` takes, from what Packer built."""
        ...

    def smoke(self, artifact: str, name: str, check: str, log: Path, timeout: float) -> None:
        """Start the built box as Vagrant would and wait until `check` passes in it; BuildFailed after
        `timeout` seconds, with the check's last output."""
        ...

    def finish(self, artifact: str) -> str:
        """A box that passed its smoke check made ready for the store (what `store.promote` takes)."""
        ...

    def discard(self, artifact: str) -> None:
        """A built box that will not be tagged, removed."""
        ...


def wait_for_check(attempt: Callable[[], Completed], check: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = attempt()
        if done.status == 0:
            return
        if time.monotonic() > deadline:
            last = done.output.strip().splitlines()[-1:] or ["(no output)"]
            raise BuildFailed(f"smoke check `{check}` still failing after {timeout:.0f} s: {last[0]}", f"log: {log}")
        time.sleep(0.5)


class DockerBuilder:
    provider = "docker"
    packer_source = "docker.box"
    packaging = b""  # the labels go in through the template

    def require(self) -> None:
        docker.server_version()

    def store(self, namespace: str) -> Store:
        return BoxStore(namespace)

    def base_hash(self, ws: Workspace, spec: BaseSpec, pubkey: str) -> str:
        return spec.input_hash

    def ensure_base(
        self,
        ws: Workspace,
        store: Store,
        spec: BaseSpec,
        pubkey: str,
        http_proxy: str | None,
        on_line: Callable[[str], None],
    ) -> tuple[Box, bool]:
        assert isinstance(store, BoxStore)
        return ensure_base(ws, store, spec, http_proxy=http_proxy, on_line=on_line)

    def build_proxy(self, url: str | None) -> str:
        return url or ""

    def workdir(self, store: Store, role: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"contrail-build-{role}-"))

    def variables(self, base: Box, workdir: Path) -> dict[str, str]:
        return {"base_image": base.image_id}

    def artifact(self, artifact_id: str, workdir: Path, labels: dict[str, str]) -> str:
        shutil.rmtree(workdir, ignore_errors=True)  # the labels went in through the template
        return artifact_id

    def smoke(self, artifact: str, name: str, check: str, log: Path, timeout: float) -> None:
        container = f"contrail-smoke-{name}-{uuid.uuid4().hex[:8]}"
        docker.run_container(artifact, container)  # its own command, as Vagrant runs it: supervisor
        try:
            wait_for_check(
                lambda: docker.exec_in(container, f"{COMMON_SMOKE} && ( {check} )", log=log), check, log, timeout
            )
        finally:
            docker.remove_container(container)

    def finish(self, artifact: str) -> str:
        return artifact

    def discard(self, artifact: str) -> None:
        docker.remove_image(artifact)


# Packer's VM sources and the smoke check reach the host through a NAT (QEMU's user-mode network,
# VirtualBox's NAT) where the host's loopback is this address.
NAT_HOST = "10.0.2.2"
# The libvirt box format (vagrant-libvirt): the disk and its size, and the box's own Vagrantfile.
LIBVIRT_VAGRANTFILE = """\
# A Contrail box for vagrant-libvirt. PID 1 is contrail-init, then supervisord (no systemd); eth0 is
# configured by DHCP, the private networks by Vagrant through ifupdown.
Vagrant.configure("2") do |config|
  config.vm.guest = :debian
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
    libvirt.nic_model_type = "virtio"
  end
end
"""
# The VirtualBox box format: the OVF Packer exported, its disk, and the box's own Vagrantfile. The MAC
# is the one the template gives the first NIC; every NIC is virtio (the drivers the VM base's kernel has).
VIRTUALBOX_MAC = "080027C0A801"
VIRTUALBOX_VAGRANTFILE = f"""\
# A Contrail box for VirtualBox. PID 1 is contrail-init, then supervisord (no systemd); eth0 is
# configured by DHCP, the private networks by Vagrant through ifupdown. No guest additions.
Vagrant.configure("2") do |config|
  config.vm.guest = :debian
  config.vm.base_mac = "{VIRTUALBOX_MAC}"
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :virtualbox do |virtualbox|
    virtualbox.default_nic_type = "virtio"
    virtualbox.check_guest_additions = false
  end
end
"""
VM_SMOKE_BOOT_SECONDS = 120.0  # under TCG a VM box boots in ~20 s; its services start after that


class VmBuilder:
    """What the VM providers share: the VM base (vmbase.py), QEMU's acceleration, a build's directory in
    the store, the host as the build's NAT reaches it, the smoke check (the box's disk booted under QEMU on
    the provider's kind of disk controller) and packaging into a .box."""

    provider: str
    packer_source: str
    packaging: bytes  # what the builder writes into every box besides Packer's output (part of its hash)
    box_members: tuple[str, ...]  # the .box's files, from the build's directory
    boot_disk: str  # the member the smoke check boots
    disk_bus: str  # QEMU's if= for it: the controller the provider gives the disk

    @cached_property
    def acceleration(self) -> qemu.Acceleration:
        return accel.acceleration(data_dir())

    def require(self) -> None:
        qemu.qemu()
        if not shutil.which("qemu-img") or not shutil.which("mkfs.ext4"):
            raise ToolMissing("qemu-img and mkfs.ext4 are needed for VM boxes", FIX_DEPS)

    def store(self, namespace: str) -> Store:
        return VmBoxStore(namespace, self.provider)

    def base_hash(self, ws: Workspace, spec: BaseSpec, pubkey: str) -> str:
        return vmbase.vm_base_hash(ws, spec, pubkey)

    def vm_base(
        self,
        ws: Workspace,
        namespace: str,
        spec: BaseSpec,
        pubkey: str,
        http_proxy: str | None,
        on_line: Callable[[str], None],
    ) -> tuple[Box, bool]:
        """The VM base's disk, one for every VM provider (kept in the libvirt store)."""
        return vmbase.ensure_vm_base(
            ws,
            VmBoxStore(namespace, "libvirt"),
            spec,
            pubkey=pubkey,
            accel=self.acceleration.accel,
            http_proxy=http_proxy,
            on_line=on_line,
        )

    def build_proxy(self, url: str | None) -> str:
        if not url:
            return ""
        parts = urlsplit(url)
        if parts.hostname in ("127.0.0.1", "localhost"):
            return urlunsplit(parts._replace(netloc=f"{NAT_HOST}:{parts.port or 80}"))
        return url

    def workdir(self, store: Store, role: str) -> Path:
        assert isinstance(store, VmBoxStore)
        return store.staging(role)

    def smoke(self, artifact: str, name: str, check: str, log: Path, timeout: float) -> None:
        key = vagrant.insecure_private_key()
        disk = Path(artifact) / self.boot_disk
        with qemu.running(disk, self.acceleration.accel, log, bus=self.disk_bus) as port:
            ssh = [
                "ssh",
                *("-p", str(port), "-i", str(key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"),
                *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"),
                "vagrant@127.0.0.1",
            ]
            command = shlex.join(["sudo", "sh", "-c", f"{COMMON_SMOKE} && ( {check} )"])
            wait_for_check(
                lambda: run([*ssh, command], check=False, log=log), check, log, timeout + VM_SMOKE_BOOT_SECONDS
            )

    def finish(self, artifact: str) -> str:
        """The .box (an uncompressed tar: VM disks compress poorly or are compressed already, and gzip
        would cost a minute per box) and its sha256 in the record; the loose files removed."""
        box_dir = Path(artifact)
        packaged = box_dir / box_file(self.provider)
        run(["tar", "-cSf", str(packaged), "-C", str(box_dir), *self.box_members])
        for member in self.box_members:
            (box_dir / member).unlink()
        record = json.loads((box_dir / RECORD).read_text())
        record["box_sha256"] = file_sha256(packaged)
        (box_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        return artifact

    def discard(self, artifact: str) -> None:
        shutil.rmtree(artifact, ignore_errors=True)

    def _write_box_files(self, box_dir: Path, metadata: dict[str, object], labels: dict[str, str]) -> str:
        (box_dir / "metadata.json").write_text(json.dumps(metadata) + "\n")
        (box_dir / "Vagrantfile").write_bytes(self.packaging)
        (box_dir / RECORD).write_text(json.dumps(labels, indent=2) + "\n")
        return str(box_dir)


class LibvirtBuilder(VmBuilder):
    provider = "libvirt"
    packer_source = "qemu.box"
    packaging = LIBVIRT_VAGRANTFILE.encode()
    box_members = ("metadata.json", "Vagrantfile", DISK)
    boot_disk = DISK
    disk_bus = "virtio"

    def ensure_base(
        self,
        ws: Workspace,
        store: Store,
        spec: BaseSpec,
        pubkey: str,
        http_proxy: str | None,
        on_line: Callable[[str], None],
    ) -> tuple[Box, bool]:
        return self.vm_base(ws, store.namespace, spec, pubkey, http_proxy, on_line)

    def variables(self, base: Box, workdir: Path) -> dict[str, str]:
        return {
            "base_disk": str(Path(base.image_id) / DISK),
            "base_disk_checksum": vmbase.disk_checksum(base),
            "output_dir": str(workdir / "packer"),
            "accelerator": self.acceleration.accel,
            "ssh_private_key": str(vagrant.insecure_private_key()),
        }

    def artifact(self, artifact_id: str, workdir: Path, labels: dict[str, str]) -> str:
        """The disk, and the box's metadata in vagrant-libvirt's v2 format: the disk's `name` makes the
        volume vagrant-libvirt uploads it to `<box>_vagrant_box_image_<version>_box-<sha256>.img`, named
        by the box's version and its disk's checksum (pool_volume_prefix)."""
        (workdir / "packer" / DISK).rename(workdir / DISK)
        (workdir / "packer").rmdir()
        name = f"box-{file_sha256(workdir / DISK)[:16]}"
        metadata = {
            "provider": "libvirt",
            "format": "qcow2",
            "virtual_size": vmbase.DISK_GB,
            "disks": [{"path": DISK, "name": name}],
        }
        return self._write_box_files(workdir, metadata, labels)


class VirtualBoxBuilder(VmBuilder):
    """VirtualBox boxes: Packer's virtualbox-ovf source, from the VM base exported as an OVF (ovf.py).
    Packer runs the role scripts in VirtualBox; the smoke check boots the exported disk under QEMU on an
    IDE controller with a virtio NIC, the hardware the box asks VirtualBox for."""

    provider = "virtualbox"
    packer_source = "virtualbox-ovf.box"
    packaging = VIRTUALBOX_VAGRANTFILE.encode()
    box_members = ("metadata.json", "Vagrantfile", "box.ovf", "box-disk001.vmdk")
    boot_disk = "box-disk001.vmdk"
    disk_bus = "ide"

    def require(self) -> None:
        super().require()
        if not shutil.which("VBoxManage"):
            raise ToolMissing(
                "VirtualBox is not installed here (no VBoxManage on PATH)",
                "install VirtualBox 7 from virtualbox.org (Debian has no package), or build --provider libvirt",
            )

    def ensure_base(
        self,
        ws: Workspace,
        store: Store,
        spec: BaseSpec,
        pubkey: str,
        http_proxy: str | None,
        on_line: Callable[[str], None],
    ) -> tuple[Box, bool]:
        assert isinstance(store, VmBoxStore)
        vm_base, built = self.vm_base(ws, store.namespace, spec, pubkey, http_proxy, on_line)
        on_line("exporting the VM base for VirtualBox (OVF)")
        base, exported = ovf.ensure_ovf_base(vm_base, store, ws.new_log("export-vm-base"))
        return base, built or exported

    def variables(self, base: Box, workdir: Path) -> dict[str, str]:
        return {
            "base_ovf": str(Path(base.image_id) / ovf.DESCRIPTOR),
            "base_ovf_checksum": vmbase.disk_checksum(base),
            "output_dir": str(workdir / "packer"),
            "ssh_private_key": str(vagrant.insecure_private_key()),
        }

    def artifact(self, artifact_id: str, workdir: Path, labels: dict[str, str]) -> str:
        """What VirtualBox exported (box.ovf and its disk, which VirtualBox names box-disk001.vmdk or, in
        older versions, box-disk1.vmdk: renamed, and the descriptor's reference with it)."""
        exported = workdir / "packer"
        [disk] = exported.glob("*.vmdk")
        descriptor = (exported / "box.ovf").read_text()
        (workdir / "box.ovf").write_text(descriptor.replace(f'"{disk.name}"', f'"{self.boot_disk}"'))
        disk.rename(workdir / self.boot_disk)
        shutil.rmtree(exported)
        return self._write_box_files(workdir, {"provider": "virtualbox"}, labels)


BUILDERS: dict[str, Builder] = {
    "docker": DockerBuilder(),
    "libvirt": LibvirtBuilder(),
    "virtualbox": VirtualBoxBuilder(),
}


def builder(provider: str) -> Builder:
    if provider not in BUILDERS:
        raise ConfigError(
            f"boxes for provider {provider!r} cannot be built yet", f"use --provider {' or '.join(BUILDERS)}"
        )
    return BUILDERS[provider]
