"""Every role file is valid for Packer itself; the vendor variants (gitlab, jenkins) are checked as far
as this machine allows (their repositories are unreachable here) and refuse to build in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from contrail.boxes.roles import placeholders
from contrail.tools import packer
from tests.conftest import REPO, contrail

pytestmark = pytest.mark.integration
ROLE_FILES = sorted((REPO / "boxes" / "roles").glob("*.pkrvars.hcl"))


@pytest.mark.parametrize("var_file", ROLE_FILES, ids=lambda p: p.name.removesuffix(".pkrvars.hcl"))
def test_packer_validates_every_role(var_file: Path, tmp_path: Path):
    real = {"scripts_dir": str(REPO / "provision_scripts"), "wheel_dir": str(tmp_path)}
    packer.validate(REPO / "boxes" / "box.pkr.hcl", [var_file], placeholders() | real)


def test_the_jenkins_plugins_and_configuration_as_code_are_well_formed():
    files = REPO / "provision_scripts" / "contrail-files" / "jenkins"
    plugins = [ln for ln in (files / "plugins.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert all(re.fullmatch(r"[a-z0-9-]+:[\w.-]+", ln) for ln in plugins), plugins
    names = {ln.split(":")[0] for ln in plugins}
    assert {"configuration-as-code", "job-dsl", "git"} <= names  # what jenkins.yaml uses
    casc = yaml.safe_load((files / "jenkins.yaml").read_text())
    assert set(casc) == {"jenkins", "unclassified", "jobs"}
    assert casc["jenkins"]["securityRealm"]["local"]["allowsSignup"] is False
    assert "${JENKINS_ADMIN_PASSWORD}" in (files / "jenkins.yaml").read_text()  # never a default password


@pytest.mark.parametrize("role", ["gitlab", "jenkins"])
def test_a_variant_whose_repository_is_unreachable_stops_in_one_line(built_boxes, role_tree, role):
    var_file = role_tree / "boxes" / "roles" / f"{role}.pkrvars.hcl"
    variable = "GITLAB_REPOSITORY" if role == "gitlab" else "JENKINS_REPOSITORY"
    text = re.sub(rf"{variable}=[^\"]+", f"{variable}=http://127.0.0.1:9", var_file.read_text())
    var_file.write_text(text)  # loopback port 9: refused at once, and no traffic leaves the machine
    result = contrail("build-boxes", role, cwd=role_tree, env={"CONTRAIL_ROOT": str(role_tree)})
    assert result.status == 2, result  # progress goes to stdout; the reason is one line on stderr
    [line] = result.stderr.strip().splitlines()
    assert re.search(rf"{role} cannot be built here: .*http://127\.0\.0\.1:9\) is unreachable from this machine", line)
    boxes = json.loads(contrail("boxes", "--all", "--json", cwd=role_tree).stdout)
    assert role not in {b["role"] for b in boxes}  # nothing half-built was tagged
