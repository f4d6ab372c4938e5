"""Every Vagrant machine name Contrail defines has a letter that is not a hex digit.

Vagrant 2.3.4 looks a name given to `vagrant up`, `ssh` or `destroy` up in its global machine index first,
as a prefix of the machines' hex UUIDs; a name such as "db" then picks whichever machine's UUID starts with
"db" — in CI, `vagrant up` took app3 twice and never started the database node.
"""

import re
from pathlib import Path

from contrail import team, topology
from contrail.scaffold import devenv
from tests.conftest import REPO

UUID_PREFIX = re.compile(r"^[0-9a-f]+$")


def test_environment_node_names_cannot_be_a_uuid_prefix(tmp_path: Path) -> None:
    cfg = devenv._initial_config(REPO / "examples" / "wsgi-app", devenv.Request(name="shop", web=9, app=9))
    names = [node.name for node in topology.nodes(cfg)]
    assert topology.DATABASE_NODE in names
    assert [name for name in names if UUID_PREFIX.match(name)] == []


def test_team_node_names_cannot_be_a_uuid_prefix(tmp_path: Path) -> None:
    toml = tmp_path / "contrail-team.toml"
    toml.write_text('[team]\nname = "acme"\n')
    names = [node.name for node in team.load(toml).nodes()]
    assert {"scm", "ci", "apt-cache", "staging-postgresql", "staging-mysql", "staging-app1"} <= set(names)
    assert [name for name in names if UUID_PREFIX.match(name)] == []
