"""What differs between the machines' providers (docker: containers; libvirt: VMs): how a machine is
found, inspected, stopped, paused and resumed, and what is left of an environment to clean up. Everything else
about an environment (Vagrant, its state directory, reaching a machine over SSH) is the same for all."""

from __future__ import annotations

from typing import Protocol

from contrail.errors import ConfigError


class Provider(Protocol):
    name: str  # Vagrant's name for it (`vagrant up --provider NAME`)
    drills: tuple[str, ...]  # the failures `contrail drill` can cause with it

    def states(self, environment: str) -> dict[str, str]:
        """node → its machine's state (running, paused, exited, …) for every machine the provider has."""
        ...

    def state(self, environment: str, node: str) -> str:
        """One node's machine state, or "missing"."""
        ...

    def ssh_ports(self, environment: str) -> dict[str, int]:
        """node → the port on 127.0.0.1 its SSH is reached at, for the running machines whose port the
        provider can tell without Vagrant (none: ask `vagrant ssh-config`)."""
        ...

    def fail(self, environment: str, node: str, drill: str) -> None:
        """Cause `drill` (one of `drills`) on a node's machine."""
        ...

    def resume(self, environment: str, node: str) -> bool:
        """A stopped or paused machine running again; False when it already ran."""
        ...

    def discard(self, environment: str) -> None:
        """Every machine of the environment stopped at once, before Vagrant removes them."""
        ...

    def remove(self, environment: str, nodes: list[str] | None = None) -> list[str]:
        """The machines of `nodes` (default: all) removed outright; the nodes removed."""
        ...

    def leftovers(self, environment: str) -> list[str]:
        """What is left of an environment after its machines (the provider's names: machines, networks,
        volumes); after a complete destroy, nothing."""
        ...

    def clean(self, environment: str) -> None:
        """Remove what Vagrant leaves of an environment besides its machines (networks, volumes)."""
        ...


def provider(name: str) -> Provider:
    from contrail.environment.providers import docker, libvirt

    known: dict[str, Provider] = {"docker": docker.DockerProvider(), "libvirt": libvirt.LibvirtProvider()}
    if name == "virtualbox":
        raise ConfigError(
            "Contrail manages docker and libvirt machines, not VirtualBox's (startdev renders the Vagrantfile)",
            "run `vagrant up --provider virtualbox` in the project, and Vagrant's own ssh, halt and destroy",
        )
    if name not in known:
        raise ConfigError(
            f"provider {name!r} has no machines Contrail can manage", 'use provider = "docker" or "libvirt"'
        )
    return known[name]
