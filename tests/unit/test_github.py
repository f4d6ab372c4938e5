"""`contrail github init`: rendered workflows valid against GitHub's schema, offline; bad input refused."""

from __future__ import annotations

import shutil

import pytest

from contrail import github
from contrail.errors import ContrailError
from tests.conftest import REPO, contrail
from tests.unit.test_cli_errors import one_line_error


def test_github_init_renders_valid_workflows_codeowners_and_a_checklist(tmp_path):
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    done = contrail("github", "init", "--owners", "@acme/web", "--branch", "trunk", cwd=project)
    assert done.status == 0, done.stderr
    workflows = project / ".github" / "workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["deploy-staging.yml", "test.yml"]
    assert "run: python manage.py test" in (workflows / "test.yml").read_text()
    deploy = (workflows / "deploy-staging.yml").read_text()
    assert "branches: [trunk]" in deploy and "run: fab push" in deploy and "secrets.STAGING_SSH_KEY" in deploy
    assert (project / ".github" / "CODEOWNERS").read_text().strip().endswith("* @acme/web")
    assert "STAGING_SSH_CONFIG" in (project / ".github" / "CONTRAIL-SETUP.md").read_text()
    github.validate(sorted(workflows.glob("*.yml")))  # what init checked, checked again

    (workflows / "test.yml").write_text((workflows / "test.yml").read_text() + "# mine\n")
    one_line_error(contrail("github", "init", cwd=project), r"not overwriting \.github/workflows/test\.yml")


def test_an_invalid_workflow_is_refused_naming_it(tmp_path):
    bad = tmp_path / "broken.yml"
    bad.write_text("name: broken\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: []\n    colour: blue\n")
    with pytest.raises(ContrailError, match=r"the rendered broken\.yml is not a valid GitHub workflow"):
        github.validate([bad])


def test_github_init_outside_an_app_is_one_line(tmp_path):
    one_line_error(contrail("github", "init", cwd=tmp_path), "no app found")
