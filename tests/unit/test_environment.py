"""One Environment for developers' topologies and the team: nodes, reaching a machine, removing the
machines of nodes no longer configured (a recording provider stands in for Docker; the e2e tests run
the docker provider)."""

from pathlib import Path

import pytest

from contrail.environment.core import REMOVED, Environment
from contrail.errors import ContrailError
from contrail.topology import Node


class RecordingProvider:
    name = "docker"
    drills = ("stop", "pause")

    def __init__(self, states: dict[str, str]) -> None:
        self.machines, self.removed = dict(states), []

    def states(self, environment: str) -> dict[str, str]:
        return dict(self.machines)

    def remove(self, environment: str, nodes: list[str] | None = None) -> list[str]:
        gone = [n for n in self.machines if nodes is None or n in nodes]
        for node in gone:
            del self.machines[node]
        self.removed += gone
        return gone


def environment(tmp_path: Path, provider: RecordingProvider, explicit: Path | None = None) -> Environment:
    nodes = (Node("proxy", "proxy", "10.1.0.10"), Node("app1", "app", "10.1.0.41"), Node("app2", "app", "10.1.0.42"))
    return Environment("shop", tmp_path, nodes, provider, "shop", "run `contrail up` first", explicit)  # type: ignore[arg-type]


def test_nodes_are_found_by_name_and_role_and_an_unknown_one_is_named(tmp_path):
    env = environment(tmp_path, RecordingProvider({}))
    assert [n.name for n in env.by_role("app")] == ["app1", "app2"]
    with pytest.raises(ContrailError, match=r"no node 'app3' in this environment — nodes: proxy, app1, app2"):
        env.node("app3")


def test_a_machine_of_an_environment_never_brought_up_is_one_hint(tmp_path):
    env = environment(tmp_path, RecordingProvider({}))
    with pytest.raises(ContrailError, match=r"machines of shop are not up .* run `contrail up` first"):
        env.remote("app1", tmp_path / "log")


def test_an_explicit_ssh_config_reaches_machines_without_vagrant(tmp_path):
    config = tmp_path / "ci_ssh_config"
    env = environment(tmp_path, RecordingProvider({}), explicit=config)
    remote = env.remote("app2", tmp_path / "log")
    assert (remote.name, remote.ssh_config) == ("app2", config)
    assert env.ssh_config() == config  # never asks Vagrant


def test_machines_of_nodes_no_longer_configured_are_removed_with_vagrants_record(tmp_path):
    provider = RecordingProvider({"proxy": "running", "app1": "running", "app3": "exited"})
    (tmp_path / ".vagrant" / "machines" / "app3").mkdir(parents=True)
    assert environment(tmp_path, provider).remove_others() == ["app3"]
    assert provider.removed == ["app3"] and not (tmp_path / ".vagrant" / "machines" / "app3").exists()
    assert REMOVED.startswith("removed")
