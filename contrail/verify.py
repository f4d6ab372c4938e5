"""`contrail verify`: pytest-testinfra over every node, through the environment's ssh config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from contrail import machines, topology
from contrail.config import DevConfig

CHECKS = Path(__file__).with_name("verify_checks.py")


def verify(cfg: DevConfig, extra: list[str]) -> int:
    """pytest's exit status: 0 when every role's checks pass."""
    ssh_config = machines.ssh_config(cfg)
    hosts = ",".join(f"ssh://{n.name}" for n in topology.nodes(cfg))
    os.environ["CONTRAIL_PROJECT"] = str(cfg.project_dir)
    with tempfile.TemporaryDirectory() as empty:
        ini = Path(empty) / "pytest.ini"
        ini.write_text("[pytest]\n")  # the project's own pytest settings must not apply
        args = [
            str(CHECKS),
            "-c",
            str(ini),
            "-p",
            "no:cacheprovider",
            f"--hosts={hosts}",
            f"--ssh-config={ssh_config}",
            "-q",
            *extra,
        ]
        return int(pytest.main(args))
