"""The settings adaptation on projects made at test time by the real `django-admin startproject` (4.2 LTS
and 5.2), imported by the real Django with the real dj-database-url, as an app server imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from contrail.deploy import adapt
from tests.conftest import contrail
from tests.integration.test_startdev import free_port
from tests.userapps import django_tools, startproject

pytestmark = pytest.mark.integration

SHOW = """
import json
import django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "host": db["HOST"], "name": db["NAME"], "secret": settings.SECRET_KEY,
    "hosts": settings.ALLOWED_HOSTS, "static": str(settings.STATIC_ROOT), "debug": settings.DEBUG,
    "cache": settings.CACHES["default"]["BACKEND"], "sessions": settings.SESSION_ENGINE,
}))
"""


@pytest.mark.parametrize("version", ["4.2", "5.2"])
def test_a_stock_project_gets_only_its_infrastructure_adapted(version, tmp_path, django_releases):
    tools = django_tools(django_releases, version)
    project = startproject(tmp_path / "site", tools, version)
    findings = {f.name: f for f in adapt.analyse(project, "mysite.settings")}
    assert all(f.adapted for f in findings.values())
    assert findings["DATABASES"].sqlite and findings["DATABASES"].where.startswith("mysite/settings.py:")
    assert findings["STATIC_ROOT"].source == "absent"
    assert findings["SECRET_KEY"].source == "literal"

    text = adapt.render_settings("mysite.settings", list(findings.values()), "postgresql", ["Django"])
    (project / "contrail_settings.py").write_text(text)  # where a push puts it: the release's root
    wheels = adapt.extra_wheels(text, [f"Django>={version}"])
    assert wheels == [adapt.DATABASE_URL_LIBRARY, adapt.DRIVERS["postgresql"][0]]
    libraries = tmp_path / "libraries"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(libraries), *wheels],  # as a push adds them
        check=True,
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{project}:{tools}:{libraries}",
        "DJANGO_SETTINGS_MODULE": adapt.SETTINGS_MODULE,
        "DATABASE_URL": "postgresql://app:pw@10.1.2.5:5432/app",
        "DJANGO_SECRET_KEY": "from-the-environment",
        "CONTRAIL_ALLOWED_HOSTS": "127.0.0.1,localhost,app1,10.1.2.41",
    }
    shown = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)
    assert settings["engine"] == "django.db.backends.postgresql"
    assert (settings["host"], settings["name"]) == ("10.1.2.5", "app")
    assert settings["secret"] == "from-the-environment"
    assert settings["hosts"] == ["127.0.0.1", "localhost", "app1", "10.1.2.41"]
    assert settings["static"] == "/srv/app/static/collected"
    # what several servers break stays as the project set it: `contrail check` reveals it
    assert settings["debug"] is True
    assert settings["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["sessions"] == "django.contrib.sessions.backends.db"


def test_startdev_prints_the_adaptations_once(built_boxes, tmp_path, django_releases):
    project = startproject(tmp_path / "site", django_tools(django_releases, "4.2"), "4.2")
    args = ("startdev", "--vagrant", "--name", "adapt-once", "--port", str(free_port()))
    first = contrail(*args, "--stats-port", str(free_port()), cwd=project)
    assert first.status == 0, first.stderr
    assert "mysite.settings runs unmodified" in first.stdout
    for name in ("DATABASES → the database node (was SQLite", "STATIC_ROOT", "ALLOWED_HOSTS", "SECRET_KEY"):
        assert name in first.stdout
    assert (project / adapt.SETTINGS_FILE).is_file()
    again = contrail("startdev", cwd=project)
    assert again.status == 0, again.stderr
    assert "runs unmodified" not in again.stdout
