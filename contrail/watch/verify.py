"""`contrail verify`: pytest-testinfra over every node, through the environment's ssh config.

Each check in verify_checks.py names the roles it applies to (`@pytest.mark.roles("app")`); it is
collected once per node of those roles and nowhere else, so the report lists only checks that ran.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from contrail import topology
from contrail.config import DevConfig
from contrail.environment.dev import environment

CHECKS = Path(__file__).with_name("verify_checks.py")


def verify(cfg: DevConfig, extra: list[str]) -> int:
    """pytest's exit status: 0 when every role's checks pass."""
    env = environment(cfg)
    return run_checks(cfg.project_dir, env.nodes, env.ssh_config(), extra)


def run_checks(project: Path, nodes: Sequence[topology.Node], ssh_config: Path, extra: Sequence[str]) -> int:
    """One pytest session over verify_checks.py, each check on the nodes of its roles."""
    os.environ["CONTRAIL_PROJECT"] = str(project)
    with tempfile.TemporaryDirectory() as empty:
        ini = Path(empty) / "pytest.ini"
        ini.write_text("[pytest]\n")  # the project's own pytest settings must not apply
        quiet = [] if any(arg.startswith("-v") or arg == "--verbose" for arg in extra) else ["-q"]  # (`verify -v`)
        args = [str(CHECKS), "-c", str(ini), "-p", "no:cacheprovider", f"--ssh-config={ssh_config}", *quiet, *extra]
        return int(pytest.main(args, plugins=[RoleNodes(nodes)]))


class RoleNodes:
    """pytest plugin: parametrizes a check's `node` with the nodes of the roles its `roles` mark names
    (every node when unmarked); a check whose roles have no node in this topology is deselected."""

    MARK = "roles"

    def __init__(self, nodes: Sequence[topology.Node]) -> None:
        self.nodes = list(nodes)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers",
            f"{self.MARK}(*roles, reaches=None, box=None): run on the nodes of these roles only (running "
            "`box`, when given), and only when the topology has a node of the role it `reaches`",
        )

    def applies_to(self, mark: pytest.Mark | None) -> list[topology.Node]:
        if mark is None:
            return self.nodes
        reaches, box = mark.kwargs.get("reaches"), mark.kwargs.get("box")
        if reaches is not None and not any(n.role == reaches for n in self.nodes):
            return []
        return [n for n in self.nodes if n.role in mark.args and box in (None, n.box_name)]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "node" not in metafunc.fixturenames:
            return
        nodes = self.applies_to(metafunc.definition.get_closest_marker(self.MARK))
        if nodes:  # none: left unparametrized, then deselected (an empty parameter set would be a skip)
            metafunc.parametrize("node", nodes, ids=[n.name for n in nodes], scope="module")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        nowhere = [item for item in items if "node" in getattr(item, "fixturenames", ()) and not _has_node(item)]
        if nowhere:
            config.hook.pytest_deselected(items=nowhere)
            items[:] = [item for item in items if item not in nowhere]


def _has_node(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "node" in callspec.params
