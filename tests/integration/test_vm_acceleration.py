"""Which accelerator VMs get is a probe's answer, not an assumption: a real kernel (Debian's cloud kernel,
from this host's apt sources) booted under KVM, and under TCG when KVM does not boot it."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrail.errors import ConfigError
from contrail.tools import accel, qemu
from contrail.workspace import data_dir
from tests.conftest import REPO, contrail

pytestmark = pytest.mark.integration


def test_the_probe_boots_a_kernel_and_says_which_accelerator_and_why(tmp_path: Path):
    kernel = accel.probe_kernel(data_dir())  # fetched once per machine, like the boxes
    found = qemu.probe(kernel, tmp_path / "probe.log")
    assert found.accel in ("kvm", "tcg")
    assert "booted it" in found.reason or "booted under KVM" in found.reason, found.reason
    if found.accel == "tcg":  # what KVM did instead is in the reason
        assert "KVM" in found.reason or "/dev/kvm" in found.reason
    assert "Kernel panic" in (tmp_path / "probe.log").read_text() or "VFS" in (tmp_path / "probe.log").read_text()


def test_the_answer_is_kept_and_reused_while_qemu_and_dev_kvm_are_unchanged(tmp_path: Path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "vmlinuz").symlink_to(accel.probe_kernel(data_dir()))
    first = accel.acceleration(tmp_path)
    kept = (tmp_path / "acceleration.json").read_text()
    assert first.accel in kept and accel.acceleration(tmp_path) == first


def test_contrail_accel_overrides_the_probe_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONTRAIL_ACCEL", "tcg")
    assert accel.acceleration(tmp_path).accel == "tcg"
    monkeypatch.setenv("CONTRAIL_ACCEL", "xen")
    with pytest.raises(ConfigError, match="CONTRAIL_ACCEL"):
        accel.acceleration(tmp_path)


def test_doctor_says_which_accelerator_vms_get(tmp_path: Path):
    shown = contrail("doctor", cwd=tmp_path, env={"COLUMNS": "200", "CONTRAIL_ROOT": str(REPO)})
    assert "VM acceleration" in shown.stdout and ("TCG" in shown.stdout or "KVM" in shown.stdout), shown.stdout
