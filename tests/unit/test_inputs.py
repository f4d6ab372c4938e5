"""Input hashing: a change to one role's script changes that role's hash and no other."""

import json

import pytest

from contrail.boxes import inputs
from contrail.boxes.roles import load_catalog
from contrail.workspace import Workspace


def hashes(root, base_id="sha256:base"):
    ws = Workspace(root, root / ".contrail")
    return {
        name: inputs.role_hash(
            ws.template, role.var_file, role.scripts, ws.shared_files, base_id, "ssh-rsa KEY vagrant"
        )
        for name, role in load_catalog(ws).roles.items()
    }


def test_hash_is_stable(role_tree):
    assert hashes(role_tree) == hashes(role_tree)


def test_a_role_script_change_touches_only_that_role(role_tree):
    before = hashes(role_tree)
    with (role_tree / "provision_scripts" / "web.sh").open("a") as script:
        script.write("# a harmless change\n")
    after = hashes(role_tree)
    assert [r for r in before if before[r] != after[r]] == ["web"]


def test_db_variants_share_a_script_so_both_change(role_tree):
    before = hashes(role_tree)
    with (role_tree / "provision_scripts" / "db.sh").open("a") as script:
        script.write("\n")
    after = hashes(role_tree)
    assert sorted(r for r in before if before[r] != after[r]) == ["db", "db-mariadb"]


def test_common_inputs_change_every_role(role_tree):
    before = hashes(role_tree)
    assert all(before[r] != h for r, h in hashes(role_tree, base_id="sha256:other").items())
    with (role_tree / "provision_scripts" / "common.sh").open("a") as script:
        script.write("\n")
    assert all(before[r] != h for r, h in hashes(role_tree).items())


def test_shared_files_change_every_role(role_tree):
    before = hashes(role_tree)
    with (role_tree / "provision_scripts" / "contrail-files" / "contrail_wsgi.py").open("a") as shared:
        shared.write("# changed\n")
    assert all(before[r] != h for r, h in hashes(role_tree).items())


def test_base_hash_follows_the_spec_bytes():
    assert inputs.base_hash(b"suite = 'bookworm'") != inputs.base_hash(b"suite = 'trixie'")


def test_the_base_is_slimmed_but_keeps_copyright_files(tmp_path):
    from contrail.boxes.base import slim

    root = tmp_path / "rootfs"
    for name in (
        "usr/share/doc/bash/copyright",
        "usr/share/doc/bash/README.gz",
        "usr/share/man/man1/ls.1.gz",
        "usr/share/locale/de/LC_MESSAGES/x.mo",
        "var/cache/apt/archives/bash_5.2_amd64.deb",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "etc/dpkg/dpkg.cfg.d/excludes-none",
        "usr/bin/bash",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    slim(root, ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*"))
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == [
        "etc/dpkg/dpkg.cfg.d/contrail-exclude",
        "etc/dpkg/dpkg.cfg.d/excludes-none",
        "usr/bin/bash",
        "usr/share/doc/bash/copyright",
    ]
    config = (root / "etc/dpkg/dpkg.cfg.d/contrail-exclude").read_text()
    assert "path-exclude /usr/share/man/*" in config and "path-include /usr/share/doc/*/copyright" in config


@pytest.mark.parametrize(
    "pattern", ["/../../etc/*", "/usr/share/../../../etc/*", "usr/share/doc/*", "/usr/share/doc/*\npath-include /*"]
)
def test_an_exclude_pattern_cannot_reach_outside_the_root_filesystem(tmp_path, pattern):
    from contrail.boxes.base import load_spec
    from contrail.errors import ConfigError

    spec = tmp_path / "base.toml"
    spec.write_text(f'suite = "bookworm"\nexclude = [{json.dumps(pattern)}]\n')
    with pytest.raises(ConfigError, match=r"base.toml: 'exclude' must be a list of absolute path globs inside"):
        load_spec(spec)


def test_slimming_never_follows_a_symlink_out_of_the_root_filesystem(tmp_path):
    from contrail.boxes.base import slim

    outside = tmp_path / "host-docs"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    root = tmp_path / "rootfs"
    (root / "etc" / "dpkg" / "dpkg.cfg.d").mkdir(parents=True)
    (root / "usr" / "share").mkdir(parents=True)
    (root / "usr" / "share" / "doc").symlink_to(outside)  # a rootfs whose doc directory points at the host
    slim(root, ("/usr/share/doc/*",))
    assert (outside / "precious.txt").read_text() == "keep"


def test_bytecode_beside_the_shared_files_changes_no_role(role_tree):
    """A test or an editor importing a box script leaves __pycache__ behind: no reason to rebuild."""
    before = hashes(role_tree)
    cache = role_tree / "provision_scripts" / "contrail-files" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "contrail_wsgi.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert hashes(role_tree) == before
