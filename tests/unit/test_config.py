"""contrail.toml validation: every error names the file and line, and what is allowed."""

import re
from pathlib import Path

import pytest

from contrail import config
from contrail.errors import ConfigError

GOOD = """[environment]
name = "shop"
host_port = 8080

[topology]
web = 2
app = 3

[app]
framework = "django"
wsgi = "shop.wsgi:application"
django_settings = "shop.settings"
"""


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "contrail.toml"
    file.write_text(text)
    return file


def test_defaults_fill_what_is_not_said(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert (cfg.name, cfg.web, cfg.app_nodes, cfg.host_port, cfg.stats_port) == ("shop", 2, 3, 8080, 8404)
    assert cfg.app.requirements == tmp_path / "requirements.txt"
    assert str(cfg.subnet) == config.default_subnet("shop")
    assert cfg.subnet.is_private and cfg.subnet.prefixlen == 24


def test_a_catalog_and_a_version_constraint(tmp_path):
    cfg = config.load(write(tmp_path, GOOD + '\n[boxes]\ncatalog = "http://127.0.0.1:8070/"\nversion = "~> 1.0"\n'))
    assert (cfg.catalog, cfg.box_version) == ("http://127.0.0.1:8070/", "~> 1.0")


def test_vms_and_their_memory_per_role(tmp_path):
    text = GOOD.replace('name = "shop"', 'name = "shop"\nprovider = "libvirt"') + "\n[memory]\ndb_mb = 2048\n"
    cfg = config.load(write(tmp_path, text))
    assert cfg.provider == "libvirt"
    assert dict(cfg.memory) == {"proxy": 384, "web": 384, "app": 768, "db": 2048, "cache": 384}


def test_subnets_differ_between_environments():
    assert config.default_subnet("shop") != config.default_subnet("blog")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("web = 2", "web = 0"), r":6: topology.web must be from 1 to 20 \(got 0\)"),
        (lambda t: t.replace("app = 3", "app = 21"), r":7: topology.app must be from 1 to 20 \(got 21\)"),
        (lambda t: t.replace("web = 2", 'web = "two"'), r":6: topology.web must be an integer"),
        (lambda t: t.replace("host_port = 8080", "host_prot = 8080"), r":3: environment.host_prot is not a setting"),
        (lambda t: t + "\n[caches]\nsize = 1\n", r":14: unknown table \[caches\]"),
        (lambda t: t + "\n[cache]\nengine = 'valkey'\n", r":15: cache.engine must be one of redis, memcached"),
        (lambda t: t.replace('wsgi = "shop.wsgi:application"', 'wsgi = "shop.wsgi"'), r":11: app.wsgi must look like"),
        (lambda t: t.replace('name = "shop"', 'name = "Shop App"'), r":2: environment.name must be lowercase"),
        (lambda t: t.replace('django_settings = "shop.settings"\n', ""), r"app.django_settings is required"),
        (lambda t: t.replace("web = 2", "web = 2\nweb = 3"), r":7: .*(Cannot overwrite|already)"),
        (
            lambda t: t.replace('[environment]\nname = "shop"\n', "[environment]\n"),
            r":1: \[environment\] is missing 'name'",
        ),
        (lambda t: t.replace("host_port = 8080", 'host_port = 8080\nsubnet = "8.8.8.0/24"'), r":4: .*private"),
        (
            lambda t: t + '\n[boxes]\ncatalog = "http://alice:secret@127.0.0.1:8070"\n',
            r":15: boxes.catalog must not hold credentials",
        ),
        (lambda t: t + '\n[boxes]\ncatalog = "ftp://host/x"\n', r":15: boxes.catalog 'ftp://host/x' is not an http"),
        (lambda t: t + '\n[boxes]\nversion = "newest"\n', r":15: boxes.version must be a Vagrant version constraint"),
        (lambda t: t + "\n[memory]\napp_mb = 64\n", r":15: memory.app_mb must be from 128 to 65536 \(got 64\)"),
        (
            lambda t: t.replace('name = "shop"', 'name = "shop"\nprovider = "xen"'),
            r":3: environment.provider must be one of",
        ),
    ],
)
def test_bad_settings_point_at_their_line(tmp_path, edit, expected):
    file = write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as err:
        config.load(file)
    assert str(err.value).startswith(str(file))
    assert re.search(expected, str(err.value)), str(err.value)


def test_a_catalog_password_holding_quotes_or_backslashes_is_kept_as_one_value(tmp_path):
    from contrail import secrets
    from contrail.catalog.store import parse_url

    secrets.ensure(tmp_path)
    location = parse_url("http://contrail:a%22b%5Cc%27d%20e@127.0.0.1:8070")
    assert location.password == "a\"b\\c'd e"
    secrets.set_catalog_auth(tmp_path, location)
    kept = secrets.load(tmp_path)
    assert kept["catalog_auth"] == "contrail:a\"b\\c'd e" and len(kept) == len(secrets.NAMES) + 1
