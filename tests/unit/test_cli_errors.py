"""Bad input: one line on stderr, exit status 2, nothing written (run as a user runs it)."""

import re

import pytest

from tests.conftest import contrail


def one_line_error(result, pattern):
    assert result.status == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("contrail: error: ")
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize(
    ("args", "env", "pattern"),
    [
        (
            ["build-boxes", "web", "nope"],
            {},
            r"unknown role 'nope' — known roles: app, apt-cache, cache, cache-memcached, ci, db, db-mariadb, gitlab, "
            r"jenkins, proxy, scm, web",
        ),
        (["build-boxes", "-j", "0"], {}, r"-j/--jobs must be at least 1 \(got 0\)"),
        (["build-boxes", "-j", "two"], {}, r"'two' is not a valid integer.*build-boxes --help"),
        (
            ["build-boxes", "--dry-run"],
            {"PATH": "/nonexistent"},
            r"`docker` is not installed|docker client is not installed.*make deps",
        ),
        (
            ["build-boxes"],
            {"DOCKER_HOST": "unix:///nonexistent.sock"},
            r"dockerd is not answering on unix:///nonexistent.sock — run `make deps`",
        ),
        (["boxes"], {"DOCKER_HOST": "unix:///nonexistent.sock"}, r"dockerd is not answering"),
        (["build-boxes", "--apt-cache", "ftp://x"], {}, r"is not http://HOST:PORT"),
        (["build-boxes", "--apt-cache", "http://127.0.0.1:9"], {}, r"no apt-cacher-ng answers at http://127.0.0.1:9"),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, args, env, pattern):
    result = contrail(*args, cwd=tmp_path, env=env)
    one_line_error(result, pattern)
    assert not (tmp_path / ".contrail").exists(), "nothing may be written on bad input"


def test_role_file_syntax_error_names_file_and_line(tmp_path, role_tree):
    var_file = role_tree / "boxes" / "roles" / "web.pkrvars.hcl"
    var_file.write_text(var_file.read_text().replace('"web.sh", "cleanup.sh"]', '"web.sh" "cleanup.sh"]'))
    result = contrail("build-boxes", "web", cwd=tmp_path, env={"CONTRAIL_ROOT": str(role_tree)})
    one_line_error(result, rf"{re.escape(str(var_file))}:3: Missing item separator")
    assert not (tmp_path / ".contrail").exists()


def test_missing_role_data_says_where_to_point(tmp_path):
    result = contrail("build-boxes", cwd=tmp_path, env={"CONTRAIL_ROOT": str(tmp_path)})
    one_line_error(result, r"no role data found .* set CONTRAIL_ROOT")


def test_drill_restore_of_a_node_whose_machine_is_gone(tmp_path):
    toml = '[environment]\nname = "gone-env-7f3a"\n\n[app]\nwsgi = "app:application"\n'
    (tmp_path / "contrail.toml").write_text(toml)
    result = contrail("drill", "restore", "app2", cwd=tmp_path)
    one_line_error(result, r"app2 has no machine \(container gone-env-7f3a-app2 is gone\) — run `contrail up`")
