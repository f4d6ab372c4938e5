"""The libvirt provider: each machine a VM (domain) named `<environment>-<node>` (the Vagrantfile's
default_prefix), its disk a volume of the same name in libvirt's default pool; the private network is
the one vagrant-libvirt makes for the environment's subnet."""

from __future__ import annotations

from contrail.tools import libvirt

# libvirt's words for a domain's state, in the words the docker provider uses (status, drills).
STATES = {"running": "running", "paused": "paused", "shut off": "exited", "shutdown": "exited", "crashed": "exited"}


class LibvirtProvider:
    name = "libvirt"
    drills = ("stop", "pause")  # a power cut (virsh destroy keeps the disk) and a suspended VM

    def states(self, environment: str) -> dict[str, str]:
        return {
            name.removeprefix(f"{environment}-"): STATES.get(state, state)
            for name, state in libvirt.domains(f"{environment}-").items()
        }

    def state(self, environment: str, node: str) -> str:
        state = libvirt.domain_state(f"{environment}-{node}")
        return STATES.get(state, state)

    def ssh_ports(self, environment: str) -> dict[str, int]:
        return {}  # (a VM's address is its DHCP lease's: vagrant-libvirt's ssh_info finds it)

    def fail(self, environment: str, node: str, drill: str) -> None:
        name = f"{environment}-{node}"
        libvirt.virsh("destroy" if drill == "stop" else "suspend", name)

    def resume(self, environment: str, node: str) -> bool:
        name = f"{environment}-{node}"
        action = {"paused": "resume", "exited": "start"}.get(self.state(environment, node))
        if action:
            libvirt.virsh(action, name)
        return action is not None

    def discard(self, environment: str) -> None:
        for name in libvirt.domains(f"{environment}-"):
            libvirt.virsh("destroy", name, check=False)

    def remove(self, environment: str, nodes: list[str] | None = None) -> list[str]:
        removed = []
        for name in libvirt.domains(f"{environment}-"):
            node = name.removeprefix(f"{environment}-")
            if nodes is None or node in nodes:
                libvirt.destroy_domain(name)
                removed.append(node)
        return removed

    def leftovers(self, environment: str) -> list[str]:
        return [
            *libvirt.domains(f"{environment}-"),
            *libvirt.volumes(f"{environment}-"),
            *libvirt.networks(f"contrail-{environment}"),
        ]

    def clean(self, environment: str) -> None:
        for volume in libvirt.volumes(f"{environment}-"):
            libvirt.delete_volume(volume)
        for network in libvirt.networks(f"contrail-{environment}"):
            libvirt.delete_network(network)
