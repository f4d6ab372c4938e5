"""Configuration values are data, never code: every field of contrail.toml and contrail-team.toml that
reaches a Vagrantfile (Ruby), a shell script, SQL or a Python config refuses values that would be code
there, when the file is read — one line naming file:line, exit status 2, and nothing run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from contrail import config, team
from contrail.errors import ConfigError
from tests.conftest import contrail

MARKER = Path("/tmp/contrail-hostile-marker")
HOSTILE = ["app#{`touch /tmp/contrail-hostile-marker`}", "$(touch /tmp/contrail-hostile-marker)", "a';drop table x;--"]

DEV = """[environment]
name = "shop"
namespace = "contrail"
apt_cache = ""

[boxes]
catalog = ""
version = ""

[app]
path = "."
framework = "django"
wsgi = "shop.wsgi:application"
django_settings = "shop.settings"
requirements = "requirements.txt"

[db]
name = "app"
user = "app"

[cache]
engine = "redis"
"""
DEV_FIELDS = [
    ("environment", "name", "shop"),
    ("environment", "namespace", "contrail"),
    ("environment", "apt_cache", ""),
    ("boxes", "catalog", ""),
    ("boxes", "version", ""),
    ("app", "path", "."),
    ("app", "wsgi", "shop.wsgi:application"),
    ("app", "django_settings", "shop.settings"),
    ("app", "requirements", "requirements.txt"),
    ("db", "name", "app"),
    ("db", "user", "app"),
    ("cache", "engine", "redis"),
]

TEAM = """[team]
name = "acme"
namespace = "contrail"

[scm]
repositories = ["app"]

[ci]
deploy_branch = "main"

[staging]
database = "app"
user = "app"
wsgi = "app:application"
django_settings = ""
"""
TEAM_FIELDS = [
    ("team", "name", "acme"),
    ("team", "namespace", "contrail"),
    ("scm", "repositories", '["app"]'),
    ("ci", "deploy_branch", "main"),
    ("staging", "database", "app"),
    ("staging", "user", "app"),
    ("staging", "wsgi", "app:application"),
    ("staging", "django_settings", ""),
]


def with_value(text: str, table: str, key: str, current: str, value: str) -> str:
    """`text` with table.key set to `value` (a TOML string, or a list of one for a list)."""
    literal = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    old = f"{key} = {current}" if current.startswith("[") else f'{key} = "{current}"'
    new = f"{key} = [{literal}]" if current.startswith("[") else f"{key} = {literal}"
    section = text.index(f"[{table}]")
    at = text.index(old, section)
    return text[:at] + new + text[at + len(old) :]


def assert_refused_at_its_line(file: Path, text: str, load: Callable[[Path], object], table: str, key: str) -> None:
    file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(file)
    assert str(err.value).startswith(f"{file}:{config.line_of(text, table, key)}: {table}.{key} ")
    assert "\n" not in str(err.value) and not MARKER.exists()


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(("table", "key", "current"), DEV_FIELDS)
def test_hostile_values_in_contrail_toml_are_refused_at_their_line(tmp_path, table, key, current, value):
    text = with_value(DEV, table, key, current, value)
    assert_refused_at_its_line(tmp_path / config.FILENAME, text, config.load, table, key)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(("table", "key", "current"), TEAM_FIELDS)
def test_hostile_values_in_the_team_file_are_refused_at_their_line(tmp_path, table, key, current, value):
    text = with_value(TEAM, table, key, current, value)
    assert_refused_at_its_line(tmp_path / team.FILENAME, text, team.load, table, key)


def test_a_name_a_user_would_write_is_refused_at_load_time_saying_what_works(tmp_path):
    file = tmp_path / config.FILENAME
    file.write_text(with_value(DEV, "db", "name", "app", "my-app"))
    with pytest.raises(ConfigError, match=r"db.name must be lowercase letters, digits and '_'.*\(got 'my-app'\)"):
        config.load(file)


def test_users_and_repositories_of_the_wrong_shape_are_one_line(tmp_path):
    file = tmp_path / team.FILENAME
    file.write_text(TEAM.replace('repositories = ["app"]', "repositories = 5"))
    with pytest.raises(ConfigError, match=r"scm.repositories must be a list of strings"):
        team.load(file)
    file.write_text('users = "x"\n' + TEAM)
    with pytest.raises(ConfigError, match=r"users must be a table"):
        team.load(file)
    file.write_text(TEAM + '\n[users]\nbob = "ssh-ed25519 AAAA\\n$(touch /tmp/contrail-hostile-marker)"\n')
    with pytest.raises(ConfigError, match=r"users.bob must be an SSH public key"):
        team.load(file)


@pytest.mark.parametrize("value", HOSTILE)
def test_the_command_line_gives_one_line_and_status_2(tmp_path, value):
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "app.py").write_text("def application(environ, start_response):\n    pass\n")
    toml = tmp_path / config.FILENAME
    text = with_value(DEV, "db", "user", "app", value).replace('framework = "django"', 'framework = "wsgi"')
    toml.write_text(text.replace("shop.wsgi:", "app:").replace('"shop.settings"', '""'))
    done = contrail("startdev", cwd=tmp_path)
    assert done.status == 2 and done.stdout == ""
    assert re.fullmatch(rf"contrail: error: {re.escape(str(toml))}:\d+: db.user must be .*\n", done.stderr)
    assert not MARKER.exists() and not (tmp_path / "Vagrantfile").exists()
