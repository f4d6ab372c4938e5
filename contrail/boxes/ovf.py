"""The VM base exported for VirtualBox: its disk as a stream-optimized VMDK (the form OVF packages carry)
and an OVF 1.0 descriptor that VirtualBox imports (Packer's virtualbox-ovf source starts from it).

The descriptor asks only for hardware the VM base's kernel (Debian's cloud kernel) has drivers for: the
disk on an IDE controller (PIIX4: ata_piix) and, once Packer has imported it, a virtio NIC (the template's
`vboxmanage` step; OVF 1.0 has no standard name for a virtio NIC). GRUB finds the root file system by its
UUID, so the same disk boots as /dev/vda (libvirt) and as /dev/sda (VirtualBox).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

from contrail.boxes.base import BASE_ROLE
from contrail.boxes.images import Box
from contrail.boxes.vmstore import DISK, VmBoxStore
from contrail.digest import file_sha256
from contrail.tools.run import run

DESCRIPTOR = "base.ovf"
VMDK = "base-disk001.vmdk"
MEMORY_MB = 1024

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
STREAM_OPTIMIZED = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
# CIM resource types (DMTF DSP1041), as VirtualBox reads them.
CPU, MEMORY, IDE_CONTROLLER, ETHERNET, DISK_DRIVE = 3, 4, 5, 10, 17
DEBIAN_64 = "96"  # CIM operating system id: Debian, 64-bit


def ensure_ovf_base(vm_base: Box, store: VmBoxStore, log: Path) -> tuple[Box, bool]:
    """The VirtualBox store's base — (box, exported?) —: `vm_base` (the libvirt store's VM base) exported
    once, under the same input hash."""
    input_hash = vm_base.input_hash
    existing = store.with_hash(BASE_ROLE, input_hash)
    if existing:
        return (existing if existing.is_current else store.promote(existing.image_id)), False
    staged = store.staging(BASE_ROLE)
    try:
        export(Path(vm_base.image_id) / DISK, staged, log)
        return store.promote_new(staged, BASE_ROLE, input_hash, sha256=file_sha256(staged / DESCRIPTOR)), True
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def export(disk: Path, target: Path, log: Path) -> None:
    """`disk` (any format qemu-img reads) as `target`/base-disk001.vmdk with its descriptor base.ovf."""
    vmdk = target / VMDK
    run(["qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", str(disk), str(vmdk)], log=log)
    info = json.loads(run(["qemu-img", "info", "--output=json", str(vmdk)], log=log).output)
    descriptor = envelope(VMDK, vmdk.stat().st_size, int(info["virtual-size"]))
    (target / DESCRIPTOR).write_bytes(descriptor)


def envelope(vmdk: str, file_size: int, capacity: int) -> bytes:
    """An OVF 1.0 descriptor: one VM with one CPU, MEMORY_MB of memory, the disk on an IDE controller
    and one NAT Ethernet adapter."""
    for prefix, uri in (("ovf", OVF), ("rasd", RASD), ("vssd", VSSD)):
        ET.register_namespace(prefix, uri)

    def q(ns: str, name: str) -> str:
        return f"{{{ns}}}{name}"

    def add(parent: ET.Element, ns: str, tag: str, text: str | None = None, /, **attrs: str) -> ET.Element:
        child = ET.SubElement(parent, q(ns, tag), {q(OVF, k): v for k, v in attrs.items()})
        child.text = text
        return child

    root = ET.Element(q(OVF, "Envelope"), {q(OVF, "version"): "1.0"})
    refs = add(root, OVF, "References")
    add(refs, OVF, "File", href=vmdk, id="file1", size=str(file_size))
    disks = add(root, OVF, "DiskSection")
    add(disks, OVF, "Info", "The virtual disk")
    add(disks, OVF, "Disk", capacity=str(capacity), diskId="vmdisk1", fileRef="file1", format=STREAM_OPTIMIZED)
    networks = add(root, OVF, "NetworkSection")
    add(networks, OVF, "Info", "The network the machine's first adapter is on")
    add(add(networks, OVF, "Network", name="NAT"), OVF, "Description", "Vagrant's and Packer's way in")
    system = add(root, OVF, "VirtualSystem", id="contrail-base")
    add(system, OVF, "Info", "Contrail's VM base (Debian)")
    os_section = add(system, OVF, "OperatingSystemSection", id=DEBIAN_64)
    add(os_section, OVF, "Info", "The guest operating system")
    add(os_section, OVF, "Description", "Debian_64")
    hardware = add(system, OVF, "VirtualHardwareSection")
    add(hardware, OVF, "Info", "Virtual hardware")
    settings = add(hardware, OVF, "System")
    add(settings, VSSD, "ElementName", "Virtual Hardware Family")
    add(settings, VSSD, "InstanceID", "0")
    add(settings, VSSD, "VirtualSystemIdentifier", "contrail-base")
    add(settings, VSSD, "VirtualSystemType", "virtualbox-2.2")
    items: list[dict[str, str]] = [
        {"ElementName": "1 virtual CPU", "InstanceID": "1", "ResourceType": str(CPU), "VirtualQuantity": "1"},
        {
            "AllocationUnits": "MegaBytes",
            "ElementName": f"{MEMORY_MB} MB of memory",
            "InstanceID": "2",
            "ResourceType": str(MEMORY),
            "VirtualQuantity": str(MEMORY_MB),
        },
        {
            "Address": "0",
            "ElementName": "ideController0",
            "InstanceID": "3",
            "ResourceSubType": "PIIX4",
            "ResourceType": str(IDE_CONTROLLER),
        },
        {
            "AutomaticAllocation": "true",
            "Connection": "NAT",
            "ElementName": "Ethernet adapter on NAT",
            "InstanceID": "4",
            "ResourceSubType": "E1000",
            "ResourceType": str(ETHERNET),
        },
        {
            "AddressOnParent": "0",
            "ElementName": "disk1",
            "HostResource": "/disk/vmdisk1",
            "InstanceID": "5",
            "Parent": "3",
            "ResourceType": str(DISK_DRIVE),
        },
    ]
    for fields in items:
        item = add(hardware, OVF, "Item")
        for name, value in sorted(fields.items()):  # CIM's schema orders an item's fields alphabetically
            add(item, RASD, name, value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
