"""What startdev adapts in a Django project's settings, read as source (never imported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contrail.deploy import adapt
from contrail.errors import ConfigError


def project_with(tmp_path: Path, settings: str, **more: str) -> Path:
    package = tmp_path / "mysite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(settings)
    for name, text in more.items():
        (package / f"{name}.py").write_text(text)
    return tmp_path


def findings(project: Path) -> dict[str, adapt.Finding]:
    return {f.name: f for f in adapt.analyse(project, "mysite.settings")}


def test_settings_read_from_the_environment_are_left_alone(tmp_path):
    project = project_with(
        tmp_path,
        "import os\nimport environ\nimport dj_database_url\nfrom decouple import config\nenv = environ.Env()\n"
        "SECRET_KEY = os.environ['SECRET_KEY']\n"
        "ALLOWED_HOSTS = env.list('ALLOWED_HOSTS')\n"
        "DATABASES = {'default': dj_database_url.config()}\n"
        "STATIC_ROOT = config('STATIC_ROOT')\n",
    )
    found = findings(project)
    assert [f.source for f in found.values()] == ["environment"] * 4
    assert found["SECRET_KEY"].where == "mysite/settings.py:6"
    text = adapt.render_settings("mysite.settings", list(found.values()), "postgresql", ["psycopg2-binary"])
    assert "SECRET_KEY = " not in text and "DATABASES = {" not in text
    assert "#   SECRET_KEY (mysite/settings.py:6)" in text
    assert adapt.extra_wheels(text, ["psycopg2-binary"]) == []


def test_star_imports_of_the_project_and_later_assignments_count(tmp_path):
    project = project_with(
        tmp_path,
        "from .base import *\nimport os\nDATABASES['default'] = {'ENGINE': os.getenv('DB')}\n"
        "if True:\n    ALLOWED_HOSTS = ['shop.example']\n",
        base="DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3'}}\nSECRET_KEY = 'x'\nDEBUG = True\n",
    )
    found = findings(project)
    assert found["DATABASES"].source == "environment" and found["DATABASES"].where == "mysite/settings.py:3"
    assert found["SECRET_KEY"].where == "mysite/base.py:2" and found["SECRET_KEY"].adapted
    assert found["ALLOWED_HOSTS"].where == "mysite/settings.py:5"
    assert found["STATIC_ROOT"].source == "absent"


def test_the_rendered_module_is_python_that_overrides_only_what_it_adapts(tmp_path):
    project = project_with(
        tmp_path, "SECRET_KEY = 'x'\nDATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3'}}\n"
    )
    found = list(adapt.analyse(project, "mysite.settings"))
    text = adapt.render_settings("mysite.settings", found, "mysql", ["Django>=4.2"])
    compile(text, "contrail_settings.py", "exec")
    assert "from mysite.settings import *" in text and "pymysql.install_as_MySQLdb()" in text
    assert adapt.extra_wheels(text, ["Django>=4.2"]) == [adapt.DATABASE_URL_LIBRARY, "PyMySQL>=1.1,<2"]
    # a driver the requirements gained later is not added twice; any driver of the engine counts
    assert adapt.extra_wheels(text, ["Django", "mysqlclient==2.2"]) == [adapt.DATABASE_URL_LIBRARY]
    assert adapt.extra_wheels(text, ["dj_database_url>=2", "pymysql"]) == []
    assert [line.split(" →")[0] for line in adapt.summary(found)] == list(adapt.ADAPTED)


@pytest.mark.parametrize("module", ["mysite.settings; import os", "../x", "mysite-settings"])
def test_a_settings_module_name_is_validated_before_it_is_written_anywhere(tmp_path, module):
    with pytest.raises(ConfigError, match="not a dotted Python name"):
        adapt.render_settings(module, [], "postgresql", [])


def test_a_missing_or_broken_settings_module_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'mysite.settings' not found .* app.django_settings"):
        adapt.analyse(tmp_path, "mysite.settings")
    project = project_with(tmp_path, "SECRET_KEY = (\n")
    with pytest.raises(ConfigError, match=r"mysite/settings.py:1: not valid Python"):
        adapt.analyse(project, "mysite.settings")


def test_adding_to_a_setting_read_from_the_environment_keeps_it_the_projects(tmp_path):
    settings = "import os\nALLOWED_HOSTS = os.environ['HOSTS'].split(',')\nALLOWED_HOSTS += ['x']\n"
    project = project_with(tmp_path, settings)
    assert findings(project)["ALLOWED_HOSTS"] == adapt.Finding("ALLOWED_HOSTS", "environment", "mysite/settings.py:2")


def test_project_names_are_normalised_as_packaging_does() -> None:
    from packaging.utils import canonicalize_name

    for name in ("Django", "django_redis", "PyMySQL", "zope.interface", "a__b--c..D", "psycopg2-binary"):
        assert adapt.canonical_name(name) == canonicalize_name(name)
