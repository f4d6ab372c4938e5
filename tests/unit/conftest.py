"""Fixtures shared by the unit tests."""

import os

import pytest

from contrail.tools import ssh


@pytest.fixture
def local_remote(tmp_path, monkeypatch) -> ssh.Remote:
    """A Remote whose `ssh` runs the command on this machine (an `ssh` on PATH that drops its options and
    the host name): what is tested is how Contrail feeds and reads the real process."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text('#!/bin/sh\nfor last; do :; done\nexec sh -c "$last"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(ssh.tempfile, "gettempdir", lambda: str(tmp_path))
    return ssh.Remote("node", tmp_path / "ssh_config", tmp_path / "control", tmp_path / "remote.log")
