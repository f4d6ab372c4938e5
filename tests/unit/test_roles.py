"""The role registry: every role file loads and names itself consistently; bad data is reported by line."""

import re
import subprocess

import pytest

from contrail.boxes.roles import SUFFIX, load_catalog
from contrail.errors import ConfigError
from contrail.workspace import Workspace
from tests.conftest import REPO


def ws_at(root):
    return Workspace(root, root / ".contrail")


def test_every_role_file_loads_and_names_itself():
    catalog = load_catalog(ws_at(REPO))
    files = sorted(p.name.removesuffix(SUFFIX) for p in (REPO / "boxes" / "roles").glob(f"*{SUFFIX}"))
    assert sorted(catalog.roles) == files
    for name, role in catalog.roles.items():
        assert role.name == name
        assert role.scripts[0].name == "common.sh" and role.scripts[-1].name == "cleanup.sh"
        assert all(s.is_file() for s in role.scripts)
        assert role.smoke and role.description


def test_the_default_set_is_the_spine_roles():
    names = [r.name for r in load_catalog(ws_at(REPO)).select([])]
    assert names == ["app", "apt-cache", "cache", "db", "proxy", "web"]


def test_provision_scripts_are_strict_bash():
    for script in (REPO / "provision_scripts").glob("*.sh"):
        text = script.read_text()
        assert text.startswith("#!/bin/bash\n"), script
        assert "set -euo pipefail" in text, script
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_unknown_role_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        load_catalog(ws_at(REPO)).select(["web", "nope"])
    assert "unknown role 'nope'" in str(err.value)
    assert "known roles: app, apt-cache, cache, cache-memcached, ci, db" in str(err.value)


def test_a_new_role_is_just_data(role_tree):
    (role_tree / "provision_scripts" / "cache.sh").write_text("#!/bin/bash\nset -euo pipefail\n")
    (role_tree / "boxes" / "roles" / f"cache{SUFFIX}").write_text(
        'role = "cache"\ndescription = "memcached"\nscripts = ["common.sh", "cache.sh", "cleanup.sh"]\nsmoke = "true"\n'
    )
    assert "cache" in load_catalog(ws_at(role_tree)).roles


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + 'colour = "red"\n', r"web\.pkrvars\.hcl:\d+: unknown key 'colour'"),
        (lambda t: t.replace("web.sh", "missing.sh"), r"web\.pkrvars\.hcl:3: script 'missing\.sh' not found"),
        (
            lambda t: t.replace("ports       = [80]", 'ports = ["80"]'),
            r"web\.pkrvars\.hcl:4: 'ports' must be a list of ints",
        ),
        (lambda t: t.replace('role        = "web"', 'role = "webby"'), r"web\.pkrvars\.hcl:1: role 'webby' must match"),
        (lambda t: re.sub(r"smoke .*\n", "", t), r"web\.pkrvars\.hcl:1: missing 'smoke'"),
        (lambda t: t + 'base_image = "x"\n', r"unknown key 'base_image'"),
    ],
)
def test_bad_role_data_points_at_the_line(role_tree, edit, expected):
    var_file = role_tree / "boxes" / "roles" / f"web{SUFFIX}"
    var_file.write_text(edit(var_file.read_text()))
    with pytest.raises(ConfigError, match=expected):
        load_catalog(ws_at(role_tree))
