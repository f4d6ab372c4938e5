"""The devenv template, rendered by cookiecutter for real; the Vagrantfile validated by Vagrant itself."""

import dataclasses
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from contrail import config, secrets, topology
from contrail.errors import ConfigError
from contrail.scaffold import devenv
from tests.conftest import REPO

ROLES = ("proxy", "web", "app", "tomcat", "db", "db-mariadb", "cache", "cache-memcached")
IMAGES = {role: f"contrail/{role}:1.0.0" for role in ROLES}


@pytest.fixture
def django_project(tmp_path: Path) -> Path:
    project = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "django-app", project)
    return project


def test_detects_a_django_project(django_project):
    assert devenv.detect_app(django_project, None) == ("django", "demo.wsgi:application", "demo.settings", "")


def test_detects_a_plain_wsgi_module():
    assert devenv.detect_app(REPO / "examples" / "wsgi-app", None) == ("wsgi", "app:application", "", "")


def test_detects_a_built_war_where_maven_or_gradle_writes_it(tmp_path):
    for place in ("target/shop-1.0.war", "build/libs/shop.war", "shop.war"):
        project = tmp_path / place.replace("/", "-")
        (project / place).parent.mkdir(parents=True)
        (project / place).write_bytes(b"PK")
        assert devenv.detect_app(project, None) == ("tomcat", "", "", place)
    assert devenv.detect_app(tmp_path, None, war="dist/app.war").war == "dist/app.war", "--war wins"


def test_several_wars_are_a_choice_for_the_user(tmp_path):
    for place in ("target/shop.war", "target/admin.war"):
        (tmp_path / place).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / place).write_bytes(b"PK")
    with pytest.raises(ConfigError, match=r"several \.war files .*target/admin\.war, target/shop\.war"):
        devenv.detect_app(tmp_path, None)


def test_no_app_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"no app found .* no manage\.py, no built \.war"):
        devenv.detect_app(tmp_path, None)


def test_requirements_file_is_required(django_project):
    (django_project / "requirements.txt").unlink()
    cfg = devenv._initial_config(django_project, devenv.Request())
    with pytest.raises(ConfigError, match=r"requirements file .* not found"):
        devenv.check_app(cfg)


def test_rendered_files_carry_the_topology(django_project, tmp_path):
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop", web=3, app=2, host_port=9090))
    out = devenv.render_project(cfg, IMAGES, tmp_path / "out")
    vagrantfile = (out / "Vagrantfile").read_text()
    for name in ("proxy", "web1", "web2", "web3", "app1", "app2", "database"):
        assert f'name: "{name}"' in vagrantfile
    assert "app3" not in vagrantfile
    assert 'host: 9090, host_ip: "127.0.0.1"' in vagrantfile
    proxy = (out / "devenv" / "configure" / "proxy.sh").read_text()
    assert proxy.count(":80 check\n") == 3
    web = (out / "devenv" / "configure" / "web.sh").read_text()
    assert web.count(":8000 max_fails") == 2 and "include /etc/nginx/contrail-upstream.conf;" in web
    assert config.load(out / "contrail.toml").web == 3
    for script in (out / "devenv" / "configure").glob("*.sh"):
        assert os.access(script, os.X_OK)
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_a_war_project_runs_tomcat_app_servers_with_session_routes(tmp_path):
    project = tmp_path / "shop"
    (project / "target").mkdir(parents=True)
    (project / "target" / "shop-1.0.war").write_bytes(b"PK")
    cfg = devenv._initial_config(project, devenv.Request(name="shop", app=2))
    devenv.check_app(cfg)
    out = devenv.render_project(cfg, IMAGES, tmp_path / "out")
    vagrantfile = (out / "Vagrantfile").read_text()
    assert 'name: "app1", role: "app", box: "tomcat", configure: "tomcat"' in vagrantfile
    assert 'image: "contrail/tomcat:1.0.0"' in vagrantfile and "2 Tomcat" in vagrantfile
    assert '"MANAGER_PASSWORD" => SECRETS["manager_password"]' in vagrantfile
    configure = out / "devenv" / "configure"
    assert not (configure / "app.sh").exists(), "only the configure script of the app server it runs"
    tomcat = (configure / "tomcat.sh").read_text()
    assert 'url="jdbc:postgresql://${DB_HOST}:${DB_PORT}/${DB_NAME}"' in tomcat and "-Xmx256m" in tomcat
    web = (configure / "web.sh").read_text()
    assert '"~\\.app2$" app_app2;' in web and "default $contrail_session_upstream;" in web
    routes = web.split("cat > /etc/nginx/contrail-routes.conf <<'CFG'\n")[1].split("\nCFG\n")[0]
    app1, app2 = (n.ip for n in topology.by_role(cfg, "app"))
    assert routes.splitlines()[:3] == [
        "upstream app_app1 {",
        f"    server {app1}:8000 max_fails=1 fail_timeout=5s;",
        f"    server {app2}:8000 backup;",
    ]
    toml = config.load(out / "contrail.toml")
    assert (toml.app.framework, toml.app.war, toml.app.heap) == ("tomcat", out / "target" / "shop-1.0.war", "256m")
    for script in configure.glob("*.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    (project / "target" / "shop-1.0.war").unlink()
    with pytest.raises(ConfigError, match=r"the \.war .*shop-1\.0\.war does not exist"):
        devenv.check_app(cfg)


def test_the_app_servers_configure_scripts_stand_alone(django_project, tmp_path):
    """The team's staging topology runs a role's configure script without common.sh: what app.sh and
    tomcat.sh call, they define."""
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop"))
    gunicorn = devenv.render_project(cfg, IMAGES, tmp_path / "gunicorn") / "devenv" / "configure" / "app.sh"
    tomcat_cfg = dataclasses.replace(cfg, app=dataclasses.replace(cfg.app, framework="tomcat"))
    tomcat = devenv.render_project(tomcat_cfg, IMAGES, tmp_path / "tomcat") / "devenv" / "configure" / "tomcat.sh"
    for script in (gunicorn, tomcat):
        text = script.read_text()
        for function in ("waits_for_release", "answers_health"):
            assert f"\n{function}() {{" in text and f"\n{function} " in text, (script.name, function)


def test_a_gunicorn_project_has_no_tomcat_configure_script_or_session_routes(django_project, tmp_path):
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop"))
    out = devenv.render_project(cfg, IMAGES, tmp_path / "out")
    assert not (out / "devenv" / "configure" / "tomcat.sh").exists()
    web = (out / "devenv" / "configure" / "web.sh").read_text()
    assert "contrail-routes" not in web and "JSESSIONID" not in web


def test_a_mysql_environment_runs_mariadb_on_its_database_node(django_project, tmp_path):
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop", db_engine="mysql"))
    out = devenv.render_project(cfg, IMAGES, tmp_path / "out")
    vagrantfile = (out / "Vagrantfile").read_text()
    assert 'name: "database", role: "db", box: "db-mariadb"' in vagrantfile
    assert 'image: "contrail/db-mariadb:1.0.0"' in vagrantfile
    assert '"DATABASE_URL" => "mysql://app:#{SECRETS["db_password"]}@' in vagrantfile and ":3306/app" in vagrantfile
    db = (out / "devenv" / "configure" / "db.sh").read_text()
    assert db.startswith("#!/bin/bash\n# database: the app's MariaDB user") and "psql" not in db
    assert "GRANT ALL ON `app`.* TO 'app'@'%'" in db.replace("\\`", "`")
    subprocess.run(["bash", "-n", str(out / "devenv" / "configure" / "db.sh")], check=True)
    assert "django.db.backends.mysql.base" in (out / "devenv" / "configure" / "app.sh").read_text()
    assert config.load(out / "contrail.toml").db_engine == "mysql"


def test_the_cache_node_redis_memcached_or_none(django_project, tmp_path):
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop"))
    out = devenv.render_project(cfg, IMAGES, tmp_path / "redis")
    vagrantfile = (out / "Vagrantfile").read_text()
    assert 'name: "cache", role: "cache", box: "cache"' in vagrantfile
    assert '"CACHE_URL" => "redis://:#{SECRETS["cache_password"]}@' in vagrantfile and ".6:6379/0" in vagrantfile
    assert "REDIS_URL=${CACHE_URL}" in (out / "devenv" / "configure" / "app.sh").read_text()
    assert "requirepass" in (out / "devenv" / "configure" / "cache.sh").read_text()
    assert config.load(out / "contrail.toml").cache_engine == "redis"

    memcached = dataclasses.replace(cfg, cache_engine="memcached")
    out = devenv.render_project(memcached, IMAGES, tmp_path / "memcached")
    vagrantfile = (out / "Vagrantfile").read_text()
    assert 'box: "cache-memcached"' in vagrantfile and '"CACHE_URL" => "memcached://' in vagrantfile
    assert "REDIS_URL" not in (out / "devenv" / "configure" / "app.sh").read_text()
    subprocess.run(["bash", "-n", str(out / "devenv" / "configure" / "cache.sh")], check=True)

    out = devenv.render_project(dataclasses.replace(cfg, cache_nodes=0), IMAGES, tmp_path / "none")
    assert (
        'name: "cache"' not in (out / "Vagrantfile").read_text()
        and "CACHE_URL" not in (out / "Vagrantfile").read_text()
    )
    assert "CACHE_URL=" not in (out / "devenv" / "configure" / "app.sh").read_text()
    assert topology.boxes(dataclasses.replace(cfg, cache_nodes=0)) == ["proxy", "web", "app", "db"]


def test_a_django_project_gets_its_settings_adapted_in_the_render(django_project, tmp_path):
    cfg = devenv._initial_config(django_project, devenv.Request(name="shop"))
    out = devenv.render_project(cfg, IMAGES, tmp_path / "out")
    assert "DJANGO_SETTINGS_MODULE=contrail_settings" in (out / "devenv" / "configure" / "app.sh").read_text()
    assert devenv._adapt_settings(cfg, out) == []  # the example reads all four from the environment
    text = (out / "devenv" / "contrail_settings.py").read_text()
    assert "from demo.settings import *" in text and "_CONTRAIL_WHEELS = []" in text


def test_secrets_are_private_and_stable(tmp_path):
    first = secrets.ensure(tmp_path)
    assert (tmp_path / "secrets.toml").stat().st_mode & 0o777 == 0o600
    assert secrets.ensure(tmp_path) == first
    assert len(set(first.values())) == len(first)


def test_the_environment_ssh_key_is_private_and_kept(tmp_path):
    key = secrets.ensure_ssh_key(tmp_path, "contrail-test")
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.with_suffix(".pub").read_text().startswith("ssh-ed25519 ")
    assert secrets.ensure_ssh_key(tmp_path, "contrail-test").read_bytes() == key.read_bytes()


def test_every_node_gets_its_own_ssh_port_stable_across_renders(django_project):
    cfg = devenv._initial_config(django_project, devenv.Request(web=config.MAX_NODES, app=config.MAX_NODES))
    ports = [devenv.ssh_port(cfg, node) for node in topology.nodes(cfg)]
    assert len(ports) == 2 * config.MAX_NODES + 3 and len(set(ports)) == len(ports)
    assert all(1024 < port < 65536 for port in ports)
    assert ports == [devenv.ssh_port(cfg, node) for node in topology.nodes(cfg)]


def test_ssh_ports_stay_below_the_kernels_ephemeral_ports(django_project):
    """Ports an outgoing connection may hold for a moment (Linux: 32768-60999) are never forwarded."""
    cfg = devenv._initial_config(django_project, devenv.Request())
    for subnet in ("10.0.0.0/24", "10.255.255.0/24", "172.31.7.0/24", "10.87.1.0/24"):
        on_subnet = dataclasses.replace(cfg, subnet=ipaddress.ip_network(subnet))
        for host in (1, 10, 254):
            node = topology.Node("n", "app", f"{subnet.rsplit('.', 1)[0]}.{host}")
            assert 1024 < devenv.ssh_port(on_subnet, node) < 32768
