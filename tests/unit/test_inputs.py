"""Input hashing: a change to one role's script changes that role's hash and no other."""

from contrail import inputs
from contrail.roles import load_catalog
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
