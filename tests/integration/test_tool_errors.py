"""What the real tools say about bad input, one line each: Docker (no daemon, a machine gone), Packer (a
role file's syntax), Vagrant (the rendered Vagrantfile validates). The unit tests need none of them."""

import os
import re
import shutil
import subprocess

import pytest

from contrail import secrets
from contrail.boxes.roles import SUFFIX, load_catalog
from contrail.errors import ConfigError
from contrail.scaffold import devenv
from tests.conftest import REPO, contrail, one_line_error
from tests.unit.test_devenv_render import IMAGES
from tests.unit.test_roles import ws_at

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["build-boxes"], r"dockerd is not answering on unix:///nonexistent.sock — run `make deps`"),
        (["boxes"], r"dockerd is not answering"),
    ],
)
def test_no_docker_daemon_is_one_line(tmp_path, args, pattern):
    result = contrail(*args, cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    one_line_error(result, pattern)
    assert not (tmp_path / ".contrail").exists(), "nothing may be written on bad input"


def test_role_file_syntax_error_names_file_and_line(tmp_path, role_tree):
    var_file = role_tree / "boxes" / "roles" / "web.pkrvars.hcl"
    var_file.write_text(var_file.read_text().replace('"web.sh", "cleanup.sh"]', '"web.sh" "cleanup.sh"]'))
    result = contrail("build-boxes", "web", cwd=tmp_path, env={"CONTRAIL_ROOT": str(role_tree)})
    one_line_error(result, rf"{re.escape(str(var_file))}:3: Missing item separator")
    assert not (tmp_path / ".contrail").exists()


def test_drill_restore_of_a_node_whose_machine_is_gone(tmp_path):
    toml = '[environment]\nname = "gone-env-7f3a"\n\n[app]\nwsgi = "app:application"\n'
    (tmp_path / "contrail.toml").write_text(toml)
    result = contrail("drill", "restore", "app2", cwd=tmp_path)
    one_line_error(result, r"app2 has no machine \(gone-env-7f3a-app2 is gone\) — run `contrail up`")


def test_a_syntax_error_is_reported_by_packer_with_file_and_line(role_tree):
    var_file = role_tree / "boxes" / "roles" / f"web{SUFFIX}"
    var_file.write_text(var_file.read_text().replace('"web.sh", "cleanup.sh"]', '"web.sh" "cleanup.sh"]'))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(var_file))}:3: Missing item separator"):
        load_catalog(ws_at(role_tree))


# VirtualBox cannot be installed here (no Debian package): Vagrant only asks VBoxManage for its version
# before it validates a Vagrantfile's VirtualBox settings, so this stands in for it.
VBOXMANAGE_VERSION_ONLY = """#!/bin/sh
[ "$1" = "--version" ] && echo 7.0.14r161095 && exit 0
exit 1
"""


@pytest.mark.parametrize(
    ("provider", "bogus"),
    [("docker", False), ("libvirt", False), ("virtualbox", False), ("virtualbox", True)],
    ids=["docker", "libvirt", "virtualbox", "virtualbox-with-an-unknown-setting"],
)
def test_vagrant_validates_the_rendered_vagrantfile(tmp_path, provider, bogus):
    django_project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", django_project)
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop"))
    out = devenv.render_project(cfg, IMAGES, tmp_path / "out")
    secrets.ensure(out / ".contrail")
    secrets.ensure_ssh_key(out / ".contrail", "contrail-test")
    if bogus:  # proof that the provider's block is really checked
        vagrantfile = out / "Vagrantfile"
        vagrantfile.write_text(vagrantfile.read_text().replace("virtualbox.cpus = 1", "virtualbox.cpu_count = 1"))
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "VBoxManage").write_text(VBOXMANAGE_VERSION_ONLY)
    (tools / "VBoxManage").chmod(0o755)
    done = subprocess.run(
        ["vagrant", "validate"],
        cwd=out,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            "VAGRANT_DEFAULT_PROVIDER": provider,
            "PATH": f"{tools}:{os.environ['PATH']}",
        },
    )
    if bogus:
        assert done.returncode != 0 and "shouldn't exist: cpu_count" in done.stdout + done.stderr, done
        return
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Vagrantfile validated successfully" in done.stdout
