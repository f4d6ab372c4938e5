"""The docker provider: each machine a container named `<environment>-<node>`, labelled with its
environment (org.contrail.environment), on the environment's own network."""

from __future__ import annotations

from contrail.tools import docker


class DockerProvider:
    name = "docker"
    drills = ("stop", "pause")

    def states(self, environment: str) -> dict[str, str]:
        return {
            name.removeprefix(f"{environment}-"): state for name, state in docker.container_states(environment).items()
        }

    def state(self, environment: str, node: str) -> str:
        return docker.container_state(f"{environment}-{node}")

    def ssh_ports(self, environment: str) -> dict[str, int]:
        # (what the docker provider's ssh_info reads too: the port published for the container's 22)
        return {
            name.removeprefix(f"{environment}-"): port
            for name, port in docker.published_ports(environment, "22/tcp").items()
        }

    def fail(self, environment: str, node: str, drill: str) -> None:
        docker.change_state(drill, f"{environment}-{node}")

    def resume(self, environment: str, node: str) -> bool:
        name = f"{environment}-{node}"
        action = {"paused": "unpause", "exited": "start", "created": "start"}.get(docker.container_state(name))
        if action:
            docker.change_state(action, name)
        return action is not None

    def discard(self, environment: str) -> None:
        docker.kill(docker.environment_containers(environment))

    def remove(self, environment: str, nodes: list[str] | None = None) -> list[str]:
        removed = []
        for name in docker.environment_containers(environment):
            node = name.removeprefix(f"{environment}-")
            if nodes is None or node in nodes:
                docker.remove_container(name)
                removed.append(node)
        return removed

    def leftovers(self, environment: str) -> list[str]:
        return (
            docker.environment_containers(environment)
            + docker.environment_networks(environment)
            + docker.environment_volumes(environment)
        )

    def box_files(self, image: str, description: str) -> dict[str, bytes]:
        """A docker box: metadata.json {"provider": "docker"} and a Vagrantfile pinning `image` (by its
        registry digest, or its local id for a catalog on this machine only)."""
        vagrantfile = (
            f"# {description}\n"
            "# Vagrant merges this into the project's Vagrantfile; the image is pinned by its registry digest.\n"
            'Vagrant.configure("2") do |config|\n'
            '  config.vm.provider "docker" do |docker|\n'
            f'    docker.image = "{image}"\n'
            "    docker.has_ssh = true\n"
            "  end\n"
            "end\n"
        )
        return {"metadata.json": b'{"provider": "docker"}\n', "Vagrantfile": vagrantfile.encode()}

    def clean(self, environment: str) -> None:
        for network in docker.environment_networks(environment):  # the Vagrantfile removes it with its last machine
            docker.remove_network(network)
        for volume in docker.environment_volumes(environment):  # the app servers' shared directory
            docker.remove_volume(volume)
