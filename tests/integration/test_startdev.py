"""startdev against the real box store: rendering, re-rendering, and bad input (one line, exit 2)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import REPO, contrail, one_line_error

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", target)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_startdev_renders_then_refuses_to_overwrite_user_changes(built_boxes, project):
    first = contrail(
        "startdev",
        "--vagrant",
        "--name",
        "shop-t",
        "--port",
        str(free_port()),
        "--stats-port",
        str(free_port()),
        cwd=project,
    )
    assert first.status == 0, first.stderr
    for name in ("Vagrantfile", "fabfile.py", "contrail.toml", "devenv/configure/proxy.sh"):
        assert (project / name).is_file()
    assert (project / ".contrail" / "secrets.toml").stat().st_mode & 0o777 == 0o600

    toml = project / "contrail.toml"
    toml.write_text(toml.read_text().replace("web = 2", "web = 3"))
    again = contrail("startdev", cwd=project)
    assert again.status == 0, again.stderr
    assert 'name: "web3"' in (project / "Vagrantfile").read_text()

    vagrantfile = project / "Vagrantfile"
    vagrantfile.write_text(vagrantfile.read_text() + "# my tweak\n")
    toml.write_text(toml.read_text().replace("web = 3", "web = 2"))
    refused = contrail("startdev", cwd=project)
    one_line_error(refused, r"not overwriting Vagrantfile: changed since contrail rendered them .* --force")
    assert "# my tweak" in vagrantfile.read_text() and 'name: "web3"' in vagrantfile.read_text()

    forced = contrail("startdev", "--force", cwd=project)
    assert forced.status == 0, forced.stderr
    assert "# my tweak" not in vagrantfile.read_text() and 'name: "web3"' not in vagrantfile.read_text()


def test_startdev_before_boxes_exist_says_build_boxes(project):
    result = contrail("startdev", cwd=project, env={"CONTRAIL_NAMESPACE": "nothing-built-here"})
    one_line_error(
        result, r"no proxy, web, app, db, cache box is built .* run `contrail build-boxes proxy web app db cache`"
    )
    assert not (project / "Vagrantfile").exists() and not (project / "contrail.toml").exists()


def test_a_taken_port_is_refused(built_boxes, project):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = contrail("startdev", "--port", str(port), "--stats-port", str(free_port()), cwd=project)
    one_line_error(result, rf"127.0.0.1:{port} is already in use")
    assert not (project / "Vagrantfile").exists()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--web", "0"], r"--web must be from 1 to 20 \(got 0\)"),
        (["--app", "21"], r"--app must be from 1 to 20 \(got 21\)"),
    ],
)
def test_counts_out_of_range(project, args, pattern):
    one_line_error(contrail("startdev", *args, cwd=project), pattern)


def test_bad_contrail_toml_names_file_and_line(built_boxes, project):
    assert contrail("startdev", "--port", str(free_port()), "--stats-port", str(free_port()), cwd=project).status == 0
    toml = project / "contrail.toml"
    toml.write_text(toml.read_text().replace("workers = 2", "workers = 2\nthreads = 4"))
    before = (project / "Vagrantfile").read_text()
    result = contrail("startdev", cwd=project)
    one_line_error(result, rf"{toml}:\d+: app.threads is not a setting of \[app\]")
    assert (project / "Vagrantfile").read_text() == before


def test_an_app_without_entry_point_is_refused(tmp_path):
    (tmp_path / "requirements.txt").write_text("")
    one_line_error(
        contrail("startdev", cwd=tmp_path), r"no app found in .*: no manage\.py, no built \.war .*no WSGI module"
    )


def test_drills_act_only_on_this_environments_nodes(built_boxes, project):
    assert contrail("startdev", "--port", str(free_port()), "--stats-port", str(free_port()), cwd=project).status == 0
    one_line_error(contrail("drill", "stop", "app9", cwd=project), r"no node 'app9' in this environment — nodes: proxy")
    one_line_error(contrail("drill", "stop", cwd=project), r"drill stop needs a node")


def test_team_init_before_boxes_exist_names_every_missing_box(tmp_path):
    result = contrail("team", "init", "--name", "crew", cwd=tmp_path, env={"CONTRAIL_NAMESPACE": "nothing-built-here"})
    boxes = "db, db-mariadb, scm, ci, apt-cache, proxy, web, app"
    one_line_error(result, rf"no {boxes} box is built .* run `contrail build-boxes {boxes.replace(', ', ' ')}` first")
    assert not (tmp_path / "team").exists()
