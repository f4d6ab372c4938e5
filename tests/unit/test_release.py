import datetime
import shutil

from contrail.deploy import release
from tests.conftest import REPO


def test_release_ids_sort_in_time_order():
    first = release.new_release_id(datetime.datetime(2026, 11, 26, 9, 5, 1, 7, tzinfo=datetime.UTC))
    second = release.new_release_id(datetime.datetime(2026, 11, 26, 10, 0, 0, 0, tzinfo=datetime.UTC))
    assert first == "20261126-090501-000007"
    assert sorted([second, first]) == [first, second]


def test_a_release_id_taken_again_sorts_after_the_live_one():
    now = datetime.datetime(2026, 11, 30, 12, 50, 7, 348471, tzinfo=datetime.UTC)
    # another push took its id later but went live first: the new id is now's, which is later still
    assert release.release_id_after("20261130-125007-348000", now) == "20261130-125007-348471"
    # the live id is from a host whose clock runs ahead: the microsecond after it, across a second's end
    assert release.release_id_after("20261130-125007-352009", now) == "20261130-125007-352010"
    assert release.release_id_after("20261130-125959-999999", now) == "20261130-130000-000000"


def test_requirements_key_follows_the_requirements_not_their_layout(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("Django>=4.2\npsycopg2-binary\n")
    key = release.requirements_key(req)
    req.write_text("# deps\nDjango>=4.2   # web\n\npsycopg2-binary\n")
    assert release.requirements_key(req) == key
    req.write_text("Django>=5.0\npsycopg2-binary\n")
    assert release.requirements_key(req) != key


def _digests(app):
    files = release.app_files(app)
    return release.migrations_digest(app, files), release.static_digest(app, files, "k")


def test_migration_and_static_digests_change_only_with_their_inputs(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(REPO / "examples" / "django-app", app)
    migrations, static = _digests(app)
    (app / "visits" / "templates" / "visits" / "index.html").write_text("changed")
    assert _digests(app) == (migrations, static)
    (app / "visits" / "migrations" / "0002_more.py").write_text("# new migration\n")
    assert _digests(app)[0] != migrations
    (app / "visits" / "static" / "visits" / "style.css").write_text("body {}")
    assert _digests(app)[1] != static
    files = release.app_files(app)
    assert release.static_digest(app, files, "other-requirements") != release.static_digest(app, files, "k")


def test_digests_look_only_inside_the_app(tmp_path):
    # a project that lives in ~/static/shop: its templates are not static sources, nor its .py files migrations
    app = tmp_path / "static" / "migrations" / "shop"
    shutil.copytree(REPO / "examples" / "django-app", app)
    migrations, static = _digests(app)
    (app / "visits" / "templates" / "visits" / "index.html").write_text("changed")
    (app / "visits" / "views.py").write_text("# changed\n")
    assert _digests(app) == (migrations, static)


def test_app_files_leave_out_what_never_ships(tmp_path):
    app = tmp_path / "app"
    for name in (
        "shop/views.py",
        "shop/templates/index.html",
        "manage.py",
        ".venv/lib/django/__init__.py",
        "node_modules/x/index.js",
        ".contrail/logs/push-1.log",
        "shop/__pycache__/views.cpython-311.pyc",
        ".git/HEAD",
        "devenv/contrail_settings.py",
    ):
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text("x")
    (app / "dangling.py").symlink_to(app / "gone.py")
    (app / "shop" / "linked").symlink_to(app / ".venv")  # a link to a directory is not walked into
    assert [p.relative_to(app).as_posix() for p in release.app_files(app)] == [
        "manage.py",
        "shop/templates/index.html",
        "shop/views.py",
    ]


def test_one_walk_gives_every_digest_of_a_push(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(REPO / "examples" / "django-app", app)
    files = release.app_files(app)
    digests = release.Digests.of(app, "k", "k+settings")
    assert digests == release.Digests(release.code_digest(app, files, "k+settings"), *_digests(app))
