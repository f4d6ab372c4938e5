"""The team flow on the real scm, ci and staging boxes: gitolite3 over SSH with per-user keys and
cgit's web view; Buildbot runs the Django example's tests on every push (seen in its REST API; its
packages come from the team's wheelhouse) and pushes green builds of main to the staging topology,
which then serves them (migrated against the staging PostgreSQL); a failing build leaves staging as it was; a
key gitolite does not know is refused by git itself."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contrail import team
from tests.conftest import REPO, Result, contrail, one_line_error
from tests.e2e.running import leftovers
from tests.integration.test_startdev import free_port

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Scm:
    root: Path
    name: str
    address: str
    ci: str
    staging: str
    keys: Path

    def git(self, who: str, *args: str, cwd: Path) -> Result:
        ssh = (
            f"ssh -i {self.keys / who} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
        )
        done = subprocess.run(
            ["git", *args], cwd=cwd, env={**os.environ, "GIT_SSH_COMMAND": ssh}, capture_output=True, text=True
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def page(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{self.address}{path}", timeout=10) as response:
            return response.read().decode()

    def build_of(self, revision: str, timeout: float = 120) -> dict[str, object]:
        """Buildbot's finished build of `revision` (REST API), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://{self.ci}:8010/api/v2/builds?property=got_revision", timeout=10) as r:
                for build in json.load(r)["builds"]:
                    got = build.get("properties", {}).get("got_revision", [None])[0]
                    if got == revision and build["complete"]:
                        return build
            time.sleep(1)
        raise AssertionError(f"no finished build of {revision} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def scm(built_boxes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scm]:
    assert contrail("build-boxes", "scm", "ci", "db-mariadb", cwd=built_boxes).status == 0
    root = tmp_path_factory.mktemp("scm-team")
    keys = root / "keys"
    keys.mkdir()
    for who in ("alice", "mallory"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(keys / who)], check=True)
    name = f"scm-{uuid.uuid4().hex[:6]}"
    assert contrail("team", "init", "--name", name, cwd=root).status == 0
    toml = root / "team" / "contrail-team.toml"
    alice = (keys / "alice.pub").read_text().strip()
    text = toml.read_text().replace('repositories = ["app"]', 'repositories = ["shop"]')
    text = text.replace("mysql = true", "mysql = false")  # PostgreSQL stays: the staging topology's db
    text = text.replace("port = 3143", f"port = {free_port()}")
    text = text.replace('test = "python3 -m unittest discover -v"', 'test = "python3 manage.py test -v 2"')
    text = text.replace('wsgi = "app:application"', 'wsgi = "demo.wsgi:application"')
    text = text.replace('django_settings = ""', 'django_settings = "demo.settings"')
    toml.write_text(text.replace("# alice = ", f'alice = "{alice}"\n# carol = '))
    assert contrail("team", "init", cwd=root).status == 0  # re-render from the edited configuration
    try:
        up = contrail("team", "up", cwd=root)
        assert up.status == 0, up.stdout + up.stderr
        cfg = team.load(toml)
        assert f"git remote add team gitolite3@{cfg.address('scm')}:shop" in up.stdout
        requirements = REPO / "examples" / "django-app" / "requirements.txt"
        wheels = contrail("team", "wheels", "-r", str(requirements), cwd=root)
        assert wheels.status == 0 and "django-4.2" in wheels.stdout.lower(), wheels.stdout + wheels.stderr
        yield Scm(root, name, cfg.address("scm"), cfg.address("ci"), cfg.address("proxy"), keys)
    finally:
        if leftovers(name):
            contrail("team", "destroy", cwd=root)


def head(scm: Scm, work: Path) -> str:
    return scm.git("alice", "rev-parse", "HEAD", cwd=work).stdout.strip()


def staging_page(scm: Scm) -> tuple[str, str]:
    """The staging front door's page and the release it comes from."""
    with urllib.request.urlopen(f"http://{scm.staging}/", timeout=10) as response:
        return response.read().decode(), response.headers["X-Contrail-Release"]


def test_a_push_is_shown_tested_and_served_by_staging(scm, tmp_path, figures):
    work = scm.root / "shop"
    shutil.copytree(REPO / "examples" / "django-app", work, ignore=shutil.ignore_patterns("__pycache__"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"]):
        assert scm.git("alice", *args, cwd=work).status == 0
    commit = ["-c", "user.name=Alice", "-c", "user.email=alice@example.com", "commit", "-q", "-m", "First page"]
    assert scm.git("alice", *commit, cwd=work).status == 0
    pushed = scm.git("alice", "push", f"gitolite3@{scm.address}:shop", "main", cwd=work)
    assert pushed.status == 0, pushed.stderr
    assert "/shop/" in scm.page("/")
    assert "First page" in scm.page("/shop/")
    assert "gitolite-admin" not in scm.page("/")  # only the team's repositories are shown
    started = time.monotonic()
    build = scm.build_of(head(scm, work))
    figures.append(f"CI: first push tested and pushed to staging in {time.monotonic() - started:.1f} s")
    assert build["results"] == 0, build  # SUCCESS
    page, release = staging_page(scm)
    assert "Hello from Contrail" in page and '<strong class="node">app1</strong>' in page and release in page


def test_a_push_whose_tests_fail_is_reported_and_staging_keeps_its_release(scm):
    _, before = staging_page(scm)
    work = scm.root / "shop"
    tests = work / "visits" / "tests.py"
    tests.write_text(tests.read_text().replace("Visit.objects.count(), 2", "Visit.objects.count(), 3"))
    commit = ["-c", "user.name=Alice", "-c", "user.email=alice@example.com", "commit", "-qam", "Expect 3 visits"]
    assert scm.git("alice", *commit, cwd=work).status == 0
    assert scm.git("alice", "push", f"gitolite3@{scm.address}:shop", "main", cwd=work).status == 0
    assert scm.build_of(head(scm, work))["results"] == 2  # FAILURE
    page, release = staging_page(scm)
    assert release == before and release in page  # the page counts visits: only its release is compared


ATTACK = """import os
import subprocess

from django.test import SimpleTestCase

BUILDBOT = "/var/lib/buildbot"


class ReachForTheDeployKey(SimpleTestCase):
    \"\"\"What a pushed branch's tests try; each attempt must fail for this test to pass.\"\"\"

    def test_nothing_of_buildbots_is_in_reach(self):
        for path in (".ssh/id_ed25519", "staging/ssh_config", "worker-password", "admin-password", "master/master.cfg"):
            with self.assertRaises(PermissionError, msg=path):
                open(os.path.join(BUILDBOT, path)).read()
        with self.assertRaises(PermissionError):
            os.listdir(BUILDBOT)
        self.assertNotEqual(subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode, 0)
        for target in (["-F", BUILDBOT + "/staging/ssh_config", "staging-app1"], ["vagrant@STAGING_APP"]):
            ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=5", *target]
            self.assertNotEqual(subprocess.run([*ssh, "true"], capture_output=True).returncode, 0, target)
"""


def test_a_pushed_branchs_tests_cannot_reach_the_deploy_key_or_staging(scm):
    cfg = team.load(scm.root / "team" / "contrail-team.toml")
    work = scm.root / "shop"
    # from the first commit, whose tests pass (main's last one expects a wrong count on purpose)
    assert scm.git("alice", "checkout", "-q", "-b", "attack", "HEAD~1", cwd=work).status == 0
    (work / "visits" / "tests_attack.py").write_text(ATTACK.replace("STAGING_APP", cfg.address("app")))
    assert scm.git("alice", "add", "-A", cwd=work).status == 0
    commit = ["-c", "user.name=Mallory", "-c", "user.email=m@example.com", "commit", "-qm", "Reach for the key"]
    assert scm.git("alice", *commit, cwd=work).status == 0
    assert scm.git("alice", "push", f"gitolite3@{scm.address}:shop", "attack", cwd=work).status == 0
    build = scm.build_of(head(scm, work), timeout=300)
    assert build["results"] == 0, build  # the build reports its result: every attempt failed
    assert scm.git("alice", "checkout", "-q", "main", cwd=work).status == 0


def test_ci_writes_need_a_login_and_the_change_hook_its_password(scm):
    def post(path: str, body: bytes, content_type: str, auth: str = "") -> int:
        request = urllib.request.Request(f"http://{scm.ci}:8010{path}", data=body, method="POST")
        request.add_header("Content-Type", content_type)
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    force = json.dumps({"jsonrpc": "2.0", "method": "force", "id": 1, "params": {}}).encode()
    assert post("/api/v2/forceschedulers/shop-force", force, "application/json") == 403
    change = b"project=shop&repository=x&revision=0123456789&branch=main&author=mallory&comments=spoofed"
    assert post("/change_hook/base", change, "application/x-www-form-urlencoded") == 401
    assert post("/change_hook/base", change, "application/x-www-form-urlencoded", "hook:guess") == 401
    with urllib.request.urlopen(f"http://{scm.ci}:8010/api/v2/builds", timeout=10) as response:
        assert response.status == 200  # reading stays open to the team network


def test_a_key_gitolite_does_not_know_is_refused_by_git(scm, tmp_path):
    refused = scm.git("mallory", "clone", f"gitolite3@{scm.address}:shop", str(tmp_path / "stolen"), cwd=tmp_path)
    assert refused.status != 0
    assert "Permission denied (publickey)" in refused.stderr


def test_a_malformed_user_key_is_one_line(scm):
    toml = scm.root / "team" / "contrail-team.toml"
    original = toml.read_text()
    toml.write_text(original.replace("# carol = ", 'carol = "not a key"\n# dave = '))
    try:
        one_line_error(
            contrail("team", "up", cwd=scm.root), r"contrail-team\.toml:\d+: users\.carol must be an SSH public key"
        )
    finally:
        toml.write_text(original)


def test_the_team_apt_cache_serves_the_teams_machines_and_builds(scm):
    cfg = team.load(scm.root / "team" / "contrail-team.toml")
    proxy = subprocess.run(
        [
            "ssh",
            "-F",
            str(scm.root / "team" / ".contrail" / "ssh_config"),
            "ci",
            "cat /etc/apt/apt.conf.d/00contrail-proxy",
        ],
        capture_output=True,
        text=True,
    )
    assert f"http://{cfg.address('apt-cache')}:3142" in proxy.stdout, proxy.stderr
    url = team.apt_cache_url(cfg)
    built = contrail("build-boxes", "proxy", "--force", "--apt-cache", url, cwd=scm.root)
    assert built.status == 0, built.stdout + built.stderr
    log = subprocess.run(
        ["docker", "exec", f"{scm.name}-apt-cache", "cat", "/var/log/apt-cacher-ng/apt-cacher.log"],
        capture_output=True,
        text=True,
    )
    assert "haproxy" in log.stdout  # the build's packages came through the team's cache


def test_team_destroy_leaves_nothing(scm):
    assert contrail("team", "destroy", cwd=scm.root).status == 0
    assert leftovers(scm.name) == []
