"""The wrappers of external programs under contrail/tools/: one clear ContrailError when the program is
absent (ToolMissing) or fails (ToolFailed)."""

from __future__ import annotations

import tarfile

import pytest

from contrail.errors import ToolFailed, ToolMissing
from contrail.tools import check_jsonschema, registry, tar


def test_tar_streams_a_directory_while_it_is_read(tmp_path):
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "hostname").write_text("box\n")
    with (
        tar.archive(tmp_path / "root", tmp_path / "logs" / "tar.log") as stream,
        tarfile.open(fileobj=stream, mode="r|") as archive,
    ):
        names = [member.name for member in archive]
    assert "./etc/hostname" in names


def test_tar_of_a_missing_directory_fails_naming_its_log(tmp_path):
    log = tmp_path / "tar.log"
    failed = rf"`tar` of .*/nowhere exited with status 2 — its errors are in {log}"
    with pytest.raises(ToolFailed, match=failed), tar.archive(tmp_path / "nowhere", log) as stream:
        stream.read()
    assert "nowhere" in log.read_text()  # tar's own complaint


def test_programs_that_are_not_installed_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match=r"`tar` is not installed"), tar.archive(tmp_path, tmp_path / "log"):
        pass
    with pytest.raises(ToolMissing, match=r"`docker-registry` is not installed"):
        registry.start(tmp_path / "registry.yml", tmp_path / "registry.log")


def test_check_jsonschema_answers_valid_invalid_or_fails(tmp_path):
    workflow = tmp_path / "test.yml"
    workflow.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n")
    assert check_jsonschema.problems(workflow, "vendor.github-workflows") == ""
    workflow.write_text("on: push\njobs:\n  test:\n    steps: []\n    colour: blue\n")
    assert "colour" in check_jsonschema.problems(workflow, "vendor.github-workflows")
    with pytest.raises(
        ToolFailed, match=r"`check-jsonschema --builtin-schema vendor\.nope` exited with status 2: .*'github-workflows'"
    ):
        check_jsonschema.problems(workflow, "vendor.nope")
