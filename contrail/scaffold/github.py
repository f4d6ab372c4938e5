"""`contrail github init`: the team flow for a team on GitHub instead of self-hosted scm and CI.

Renders (cookiecutters/github) a workflow that tests every push and pull request and deploys a push to
the main branch to staging by the same push path as `fab push`, CODEOWNERS and a checklist of
repository settings; every
workflow is validated offline against GitHub's published workflow schema (check-jsonschema's bundled
copy) before anything is written. No network calls.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from contrail import config
from contrail.errors import ConfigError, ContrailError
from contrail.scaffold import devenv, render
from contrail.tools import check_jsonschema
from contrail.workspace import COOKIECUTTERS, state_dir

TEMPLATE = COOKIECUTTERS / "github"
TEST_COMMANDS = {"django": "python manage.py test", "wsgi": "python -m pytest"}
_OWNER = re.compile(r"@[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")


def init(project: Path, *, owners: str, branch: str, test_command: str | None, force: bool) -> list[str]:
    """Render .github/ into `project`; the written files."""
    if not config.BRANCH[0].fullmatch(branch):
        raise ConfigError(f"--branch {branch!r} {config.BRANCH[1]}")
    if not all(_OWNER.fullmatch(owner) for owner in owners.split()) or not owners.strip():
        raise ConfigError(f"--owners {owners!r} must be @user, @org/team or e-mail addresses, separated by spaces")
    framework, requirements = _app(project)
    context = {
        "name": project.name,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "requirements": requirements,
        "test_command": test_command or TEST_COMMANDS[framework],
        "branch": branch,
        "owners": owners,
    }
    with tempfile.TemporaryDirectory(prefix="contrail-github-") as tmp:
        rendered = render.render(TEMPLATE, context, Path(tmp), key="github")
        validate(sorted((rendered / ".github" / "workflows").glob("*.yml")))
        files = render.files_of(rendered)
        state = state_dir(project)
        render.refuse_user_changes(rendered, project, state, files, force)
        written, _ = render.install(rendered, project, state, files)
    return written


def validate(workflows: list[Path]) -> None:
    """Each workflow against the GitHub workflow schema bundled with check-jsonschema (offline)."""
    for workflow in workflows:
        detail = check_jsonschema.problems(workflow, "vendor.github-workflows")
        if detail:
            raise ContrailError(f"the rendered {workflow.name} is not a valid GitHub workflow: {detail}")


def _app(project: Path) -> tuple[str, str]:
    """(framework, requirements file) from contrail.toml, or detected when there is none yet."""
    toml = project / config.FILENAME
    if toml.exists():
        cfg = config.load(toml)
        return cfg.app.framework, str(cfg.app.requirements.relative_to(project))
    try:
        framework = devenv.detect_app(project, None).framework
    except ConfigError:
        raise ConfigError(
            f"no app found in {project}",
            "run `contrail github init` in the app's directory (manage.py or a WSGI module)",
        ) from None
    return framework, "requirements.txt"
