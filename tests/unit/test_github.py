"""`contrail github init`: rendered workflows valid against GitHub's schema, offline; bad input refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contrail.errors import ContrailError
from contrail.scaffold import github
from tests.conftest import REPO, contrail, one_line_error


def test_github_init_renders_valid_workflows_codeowners_and_a_checklist(tmp_path):
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    done = contrail("github", "init", "--owners", "@acme/web", "--branch", "trunk", cwd=project)
    assert done.status == 0, done.stderr
    workflows = project / ".github" / "workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["test.yml"]
    workflow = yaml.safe_load((workflows / "test.yml").read_text())
    assert workflow["jobs"]["test"]["steps"][-1]["run"] == "python manage.py test"
    deploy = workflow["jobs"]["deploy-staging"]
    # only a push to the branch of this repository, after the tests, with the staging environment's secrets
    assert deploy["if"] == "${{ github.event_name == 'push' && github.ref == 'refs/heads/trunk' }}"
    assert deploy["needs"] == "test" and deploy["environment"] == "staging"
    assert deploy["steps"][-1]["run"] == "fab push" and "secrets.STAGING_SSH_KEY" in str(deploy["steps"])
    assert "ref" not in deploy["steps"][0].get("with", {})  # github.sha: the commit the test job passed
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


def zizmor(*workflows: Path) -> subprocess.CompletedProcess[str]:
    """zizmor (from the registry), offline, at its default persona."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "zizmor"), "--offline", "--no-progress", *map(str, workflows)],
        capture_output=True,
        text=True,
    )


def test_zizmor_finds_nothing_in_the_rendered_workflows(tmp_path):
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    assert contrail("github", "init", "--test-command", "pytest -k 'not slow: #1'", cwd=project).status == 0
    audited = zizmor(*(project / ".github" / "workflows").glob("*.yml"))
    assert audited.returncode == 0 and "No findings" in audited.stdout + audited.stderr, audited.stdout


def test_zizmor_flags_an_unsafe_workflow(tmp_path):
    """What the rendered workflow avoids, so the check above can fail: a workflow_run trigger, an
    unpinned action, a checkout keeping credentials, an expression expanded in a script."""
    unsafe = tmp_path / "deploy.yml"
    unsafe.write_text(
        "name: deploy\non:\n  workflow_run:\n    workflows: [test]\n    types: [completed]\n"
        "permissions:\n  contents: read\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.workflow_run.head_sha }}\n"
        "      - run: echo ${{ github.event.workflow_run.head_branch }}\n"
    )
    audited = zizmor(unsafe)
    assert audited.returncode != 0
    for audit in ("dangerous-triggers", "unpinned-uses", "artipacked", "template-injection"):
        assert audit in audited.stdout, audit


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--branch", "main; curl x|sh"], r"--branch 'main; curl x\|sh' must be a git branch name"),
        (["--branch", "../main"], r"must be a git branch name"),
        (["--owners", "@acme/web\n* @evil"], r"--owners .* must be @user, @org/team or e-mail addresses"),
    ],
)
def test_branch_and_owners_are_checked(tmp_path, args, pattern):
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    one_line_error(contrail("github", "init", *args, cwd=project), pattern)
    assert not (project / ".github").exists()
