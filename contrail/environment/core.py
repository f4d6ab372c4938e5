"""One `Environment`: its machines (nodes), its directory and state directory, its provider; Vagrant run
there, the machines' states, and `remote(node)` — the one way anything reaches a machine."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from contrail.environment.providers import Provider
from contrail.errors import ContrailError
from contrail.tools import ssh
from contrail.tools import vagrant as vagrant_tool
from contrail.topology import Node
from contrail.workspace import Workspace, state_dir


@dataclass(frozen=True)
class Environment:
    name: str  # machines are `<name>-<node>` to the provider, labelled with it
    directory: Path  # where its Vagrantfile is
    nodes: tuple[Node, ...]
    provider: Provider
    control_name: str  # its OpenSSH control sockets' directory (ssh.control_dir)
    not_up: str  # the hint when its machines are not up ("run `contrail up` first")
    explicit_ssh_config: Path | None = None  # machines reached without Vagrant (CI's staging push)

    @property
    def state(self) -> Path:
        return state_dir(self.directory)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.directory, self.state)

    @property
    def ssh_config_path(self) -> Path:
        return self.explicit_ssh_config or self.state / "ssh_config"

    @property
    def control_dir(self) -> Path:
        return ssh.control_dir(self.control_name)

    def node(self, name: str) -> Node:
        found = next((n for n in self.nodes if n.name == name), None)
        if found is None:
            names = ", ".join(n.name for n in self.nodes)
            raise ContrailError(f"no node {name!r} in this environment", f"nodes: {names}")
        return found

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    # --- reaching the machines -------------------------------------------------------------------------

    def ssh_config(self) -> Path:
        """The cached ssh config of the machines, asking Vagrant for it once if it is missing."""
        path = self.ssh_config_path
        return path if path.exists() or self.explicit_ssh_config else self.write_ssh_config()

    def write_ssh_config(self, machine: object | None = None) -> Path:
        """The machines' ssh config as `vagrant ssh-config` writes it, cached for Fabric, rsync and testinfra,
        plus one authenticated connection per node (a control master): written atomically, 0600. Made
        from the ports the provider publishes when it can tell them all (docker: one `docker ps`), else
        asked of Vagrant (seconds of Ruby, on the critical path of an `up`)."""
        ports = self.provider.ssh_ports(self.name)
        if all(n.name in ports for n in self.nodes):
            keys = [(self.state / "ssh" / "id_ed25519").absolute(), vagrant_tool.insecure_private_key()]
            text = ssh.vagrant_config({n.name: ports[n.name] for n in self.nodes}, keys)
        else:
            runner = machine or vagrant_tool.machine(
                self.directory, self.provider.name, self.workspace.new_log("ssh-config")
            )
            text = runner.ssh_config()  # type: ignore[attr-defined]
        ssh.private_dir(self.control_dir)
        text += f"\nHost *\n  ControlMaster auto\n  ControlPath {self.control_dir}/%C\n  ControlPersist 600\n"
        target = self.ssh_config_path
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        os.replace(tmp, target)
        return target

    def remote(self, node: str | Node, log: Path) -> ssh.Remote:
        """The machine of `node` over SSH (commands, rsync, held sessions, logs, a shell)."""
        name = node.name if isinstance(node, Node) else self.node(node).name
        if not self.ssh_config_path.exists() and not self.explicit_ssh_config:
            if not (self.directory / ".vagrant").is_dir():
                raise ContrailError(f"the machines of {self.name} are not up ({self.directory})", self.not_up)
            self.write_ssh_config()
        return ssh.Remote(name, self.ssh_config_path, self.control_dir, log)

    def remotes(self, nodes: Sequence[Node], log: Path) -> list[ssh.Remote]:
        if not nodes:
            raise ContrailError("no such nodes in this environment")
        return [self.remote(n, log) for n in nodes]

    def states(self) -> dict[str, str]:
        """node → its machine's state, as the provider says (a node without a machine is absent)."""
        return self.provider.states(self.name)

    # --- bringing up and tearing down --------------------------------------------------------------------

    def up(self, log: Path, on_node: Callable[[str, str], None], what: str = "vagrant up") -> object:
        """`vagrant up --provision` of every machine, then the removal of machines of nodes the
        configuration no longer has (e.g. after `web = 3` became 2), each reported as `removed` to
        `on_node`. Returns the Vagrant runner (to ask it for the ssh config)."""
        if not (self.directory / "Vagrantfile").exists():
            raise ContrailError(f"no Vagrantfile in {self.directory}", self.not_up)
        runner = vagrant_tool.up(self.directory, self.provider.name, log, on_node, what)
        for node in self.remove_others():
            on_node(node, REMOVED)
        return runner

    def remove_others(self) -> list[str]:
        """Remove the machines whose node is not in this environment any more: the machine and Vagrant's
        record of it. The nodes removed."""
        wanted = {n.name for n in self.nodes}
        others = [node for node in self.states() if node not in wanted]
        removed = self.provider.remove(self.name, others) if others else []
        for node in removed:
            shutil.rmtree(self.directory / ".vagrant" / "machines" / node, ignore_errors=True)
        return removed

    def destroy(self) -> list[str]:
        """`vagrant destroy`, then whatever the provider still has of this environment (machines of nodes
        removed since, networks, volumes) removed; what remains (nothing, normally)."""
        log = self.workspace.new_log("destroy")
        self.provider.discard(self.name)  # they are being thrown away: no graceful stop
        vagrant_tool.destroy(self.directory, self.provider.name, log)
        self.provider.remove(self.name)
        self.provider.clean(self.name)
        shutil.rmtree(self.control_dir, ignore_errors=True)  # ssh control masters of the old machines
        if not self.explicit_ssh_config:
            self.ssh_config_path.unlink(missing_ok=True)
        return self.provider.leftovers(self.name)


REMOVED = "removed: no longer in the configuration"
