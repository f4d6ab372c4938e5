"""Bad input: one line on stderr, exit status 2, nothing written (run as a user runs it)."""

import pytest

from tests.conftest import contrail, one_line_error


@pytest.mark.parametrize(
    ("args", "env", "pattern"),
    [
        (
            ["build-boxes", "web", "nope"],
            {},
            r"unknown role 'nope' — known roles: app, apt-cache, cache, cache-memcached, ci, db, db-mariadb, gitlab, "
            r"jenkins, proxy, scm, tomcat, web",
        ),
        (["build-boxes", "-j", "0"], {}, r"-j/--jobs must be at least 1 \(got 0\)"),
        (["build-boxes", "-j", "two"], {}, r"'two' is not a valid integer.*build-boxes --help"),
        (
            ["build-boxes", "--dry-run"],
            {"PATH": "/nonexistent"},
            r"`docker` is not installed|docker client is not installed.*make deps",
        ),
        (["build-boxes", "--apt-cache", "ftp://x"], {}, r"is not http://HOST:PORT"),
        (["build-boxes", "--apt-cache", "http://127.0.0.1:9"], {}, r"no apt-cacher-ng answers at http://127.0.0.1:9"),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, args, env, pattern):
    result = contrail(*args, cwd=tmp_path, env=env)
    one_line_error(result, pattern)
    assert not (tmp_path / ".contrail").exists(), "nothing may be written on bad input"


def test_missing_role_data_says_where_to_point(tmp_path):
    result = contrail("build-boxes", cwd=tmp_path, env={"CONTRAIL_ROOT": str(tmp_path)})
    one_line_error(result, r"no role data found .* set CONTRAIL_ROOT")
