"""The box factory against the real Docker engine and Packer: build, check each role's box, rebuild rules."""

from __future__ import annotations

import shlex
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contrail.tools.vagrant import insecure_public_key
from tests.conftest import contrail, current_boxes

pytestmark = pytest.mark.integration


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True)


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.3)


def http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


class Box:
    """A running container of a built box, as Vagrant's docker provider would start it."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.name = f"contrail-test-{role}-{uuid.uuid4().hex[:8]}"
        done = sh("docker", "run", "-d", "--name", self.name, f"contrail/{role}:latest")
        assert done.returncode == 0, done.stderr
        self.ip = sh("docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", self.name).stdout.strip()

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return sh("docker", "exec", self.name, "sh", "-c", command)

    def ok(self, command: str) -> bool:
        return self.run(command).returncode == 0

    def remove(self) -> None:
        sh("docker", "rm", "-f", self.name)


@pytest.fixture
def box(request: pytest.FixtureRequest, built_boxes: Path) -> Iterator[Box]:
    running = Box(request.param)
    yield running
    running.remove()


def vagrant_private_key(tmp_path: Path) -> Path:
    public = insecure_public_key()
    gems = sh("sh", "-c", "ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant").stdout.split()
    key = tmp_path / "vagrant-key"
    key.write_bytes(Path(gems[0]).read_bytes())
    key.chmod(0o600)
    assert public.startswith("ssh-")
    return key


@pytest.mark.parametrize("box", ["proxy", "web", "app", "db", "apt-cache"], indirect=True)
def test_every_box_takes_vagrant_over_ssh(box: Box, tmp_path: Path) -> None:
    wait_for(lambda: box.ok("nc -z 127.0.0.1 22"))
    key = vagrant_private_key(tmp_path)
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"]
    ssh = sh("ssh", "-i", str(key), *options, f"vagrant@{box.ip}", "sudo -n cat /etc/contrail-role")
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.strip() == box.role
    # sshd answers before supervisord calls it RUNNING (STARTING for its first second): wait for that too.
    wait_for(lambda: "RUNNING" in box.run("supervisorctl status sshd").stdout, timeout=10)


@pytest.mark.parametrize("box", ["proxy"], indirect=True)
def test_proxy_box_runs_haproxy(box: Box) -> None:
    assert box.ok("haproxy -c -f /etc/haproxy/haproxy.cfg")
    wait_for(lambda: http(f"http://{box.ip}/")[0] == 503)
    assert "no backends yet" in http(f"http://{box.ip}/")[1]


@pytest.mark.parametrize("box", ["web"], indirect=True)
def test_web_box_runs_nginx(box: Box) -> None:
    assert box.ok("nginx -t")
    wait_for(lambda: http(f"http://{box.ip}/")[0] == 503)
    assert "no upstream yet" in http(f"http://{box.ip}/")[1]


@pytest.mark.parametrize("box", ["app"], indirect=True)
def test_app_box_serves_a_wsgi_app_with_gunicorn(box: Box) -> None:
    version = box.run("/srv/app/venv/bin/gunicorn --version")
    assert version.returncode == 0 and version.stdout.startswith("gunicorn (version 20."), version
    app = (
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'hello from the app box']\n"
    )
    assert box.ok(f"mkdir -p /tmp/hello && printf %s {shlex.quote(app)} > /tmp/hello/hello.py")
    subprocess.Popen(
        [
            "docker",
            "exec",
            box.name,
            "/srv/app/venv/bin/python",
            "-m",
            "gunicorn",
            "--chdir",
            "/tmp/hello",
            "--bind",
            "0.0.0.0:8000",
            "hello:application",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: http(f"http://{box.ip}:8000/") == (200, "hello from the app box"))


@pytest.mark.parametrize("box", ["db"], indirect=True)
def test_db_box_accepts_a_password_login_over_the_network(box: Box) -> None:
    wait_for(lambda: box.ok("pg_isready -h 127.0.0.1"))
    password = uuid.uuid4().hex
    create = box.run(f'su postgres -c "psql -c \\"CREATE ROLE probe LOGIN PASSWORD \'{password}\'\\""')
    assert create.returncode == 0, create.stderr
    query = sh("psql", f"postgresql://probe:{password}@{box.ip}/postgres", "-tAc", "select 40 + 2")
    assert query.returncode == 0, query.stderr
    assert query.stdout.strip() == "42"


@pytest.mark.parametrize("box", ["apt-cache"], indirect=True)
def test_apt_cache_box_answers_on_3142(box: Box) -> None:
    wait_for(lambda: http(f"http://{box.ip}:3142/acng-report.html")[0] == 200)


def test_second_build_rebuilds_nothing(built_boxes: Path, figures: list[str]) -> None:
    started = time.monotonic()
    result = contrail("build-boxes", cwd=built_boxes)
    elapsed = time.monotonic() - started
    assert result.status == 0, result.stderr
    assert "Nothing changed: 6 boxes up to date" in result.stdout
    figures.append(f"no-change build-boxes: {elapsed:.2f} s wall")


def test_a_script_change_rebuilds_only_that_role(built_boxes: Path, role_tree: Path) -> None:
    before = current_boxes(built_boxes)
    with (role_tree / "provision_scripts" / "web.sh").open("a") as script:
        script.write(f"# a change only web's hash sees: {uuid.uuid4()}\n")
    env = {"CONTRAIL_ROOT": str(role_tree)}
    try:
        plan = contrail("build-boxes", "--dry-run", cwd=built_boxes, env=env)
        assert plan.status == 0, plan.stderr
        lines = dict(line.split(None, 1) for line in plan.stdout.splitlines())
        assert lines.pop("web") == "build (changed)"
        assert set(lines.values()) == {"keep (unchanged)"}

        rebuilt = contrail("build-boxes", cwd=built_boxes, env=env)
        assert rebuilt.status == 0, rebuilt.stderr
        after = current_boxes(built_boxes)
        assert [role for role in before if before[role] != after[role]] == ["web"]
    finally:
        # Back to the repository's data: web's previous image has those inputs and is made current again.
        restored = contrail("build-boxes", cwd=built_boxes)
    assert restored.status == 0, restored.stderr
    assert "1 built or updated" in restored.stdout
    assert current_boxes(built_boxes) == before


def test_a_failing_script_leaves_the_previous_box_tagged(built_boxes: Path, role_tree: Path) -> None:
    before = current_boxes(built_boxes)
    with (role_tree / "provision_scripts" / "web.sh").open("a") as script:
        script.write('echo "deliberate failure for the test" >&2\nexit 3\n')
    result = contrail("build-boxes", "web", cwd=built_boxes, env={"CONTRAIL_ROOT": str(role_tree)})
    assert result.status == 1
    output = result.stdout + result.stderr
    assert "provision script web.sh failed" in output
    assert "deliberate failure for the test" in output
    assert "/logs/build-web-" in output
    assert current_boxes(built_boxes) == before


def web_images() -> set[str]:
    listed = sh("docker", "image", "ls", "-q", "--no-trunc", "--filter", "label=org.contrail.role=web")
    return set(listed.stdout.split())


def test_a_failing_smoke_check_tags_nothing_and_removes_the_image(built_boxes: Path, role_tree: Path) -> None:
    before, images_before = current_boxes(built_boxes), web_images()
    var_file = role_tree / "boxes" / "roles" / "web.pkrvars.hcl"
    text = var_file.read_text()
    var_file.write_text(text[: text.index("smoke")] + 'smoke = "test -e /no/such/file"\n')
    result = contrail(
        "build-boxes", "web", "--smoke-timeout", "3", cwd=built_boxes, env={"CONTRAIL_ROOT": str(role_tree)}
    )
    assert result.status == 1
    assert "smoke check `test -e /no/such/file` still failing" in result.stdout + result.stderr
    assert current_boxes(built_boxes) == before
    assert web_images() == images_before, "the image that failed its smoke check must not stay behind"


def test_builds_send_apt_through_the_apt_cache(built_boxes: Path) -> None:
    was_up = sh("docker", "inspect", "contrail-apt-cache").returncode == 0
    up = contrail("apt-cache", "up", cwd=built_boxes)
    assert up.status == 0, up.stderr
    try:
        result = contrail("build-boxes", "--force", "web", "--apt-cache", "http://127.0.0.1:3142", cwd=built_boxes)
        assert result.status == 0, result.stderr
        log = sh("docker", "exec", "contrail-apt-cache", "cat", "/var/log/apt-cacher-ng/apt-cacher.log")
        assert "nginx" in log.stdout, "the web build's packages did not go through the cache"
    finally:
        if not was_up:
            contrail("apt-cache", "down", cwd=built_boxes)
