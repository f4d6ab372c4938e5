"""Apps as users bring them, unmodified, on several servers; and `contrail check` telling what several
servers break in them.

- A project made now by the real `django-admin startproject` (Django 4.2 LTS) plus one app: live on
  PostgreSQL through 3 app servers (one worker each, so state kept per process is state kept per
  server), a one-line change pushed, `check` failing on its local-memory cache and its files, a flow
  failing across servers with sessions in local memory, everything passing once the settings point
  at the cache node and the shared directory (edited as a user would), the cache node stopped.
- The same on Django 5.2 and MariaDB, with the Memcached variant of the cache node.
- A Flask app that keeps a SQLite file and uploads beside its code.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from contrail import config, topology
from tests.conftest import Result, contrail
from tests.e2e.running import Env, environment, ssh
from tests.userapps import FLOW, FLOW_USER, django_tools, flask_app, makemigrations, startproject

pytestmark = pytest.mark.e2e


def check(env: Env, *args: str) -> tuple[Result, dict]:
    """`contrail check --json` (and `args`): its result and its parsed report."""
    result = contrail("check", "--json", *args, cwd=env.project)
    assert result.status in (0, 1), result.stderr
    return result, json.loads(result.stdout)


def failing(report: dict) -> list[str]:
    return [f"{f['check']} {f['server']}: {f['detail']}" for f in report["findings"] if f["status"] == "fail"]


def page(env: Env, path: str = "/", host: str = "127.0.0.1", port: int | None = None) -> tuple[str, str]:
    """(body, X-Contrail-Node) of a GET; the app servers are asked directly at their address."""
    status, headers, body = env.get(path, host=host, port=port)
    assert status == 200, body
    return body, headers.get("X-Contrail-Node", "")


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text, old
    file.write_text(text.replace(old, new))


def push(env: Env, *args: str) -> Result:
    pushed = env.fab("push", *args)
    assert pushed.status == 0, pushed.stdout + pushed.stderr
    print(pushed.stdout)
    return pushed


@pytest.fixture(scope="module")
def django42(built_boxes: Path, django_releases: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    project = startproject(tmp_path_factory.mktemp("mine") / "site", django_tools(django_releases, "4.2"), "4.2")
    with environment(project, "mine", settings={"workers = 2": "workers = 1"}) as env:
        yield env


def test_an_unmodified_startproject_is_live_on_every_app_server(django42: Env, figures: list[str]) -> None:
    env = django42
    assert "mysite.settings runs unmodified" in env.rendered and "DATABASES → the database node" in env.rendered
    assert "notes" in (env.project / "mysite" / "settings.py").read_text()  # the user's INSTALLED_APPS, nothing else
    pushed = push(env)
    assert "(migrated)" in pushed.stdout and "(static collected)" in pushed.stdout
    figures.append(f"startproject 4.2, first push: {pushed.stdout.strip().splitlines()[0]}")
    counts, nodes = [], set()
    for _ in range(9):
        body, node = page(env)
        counts.append(int(re.search(r"(\d+) notes", body).group(1)))  # type: ignore[union-attr]
        nodes.add(node)
    assert counts == sorted(counts) and len(set(counts)) == 9 and len(nodes) >= 2  # one database for all
    status, headers, css = env.get("/static/admin/css/base.css")
    assert (
        status == 200 and "font-family" in css and "X-Contrail-Web" in headers and "X-Contrail-Node" not in headers
    )  # Nginx serves it
    views = env.project / "notes" / "views.py"
    edit(views, "<h1>Notes</h1>", "<h1>My notes</h1>")
    push(env, "--all-at-once")
    cfg = config.load(env.project / config.FILENAME)
    for app in topology.by_role(cfg, "app"):
        assert "<h1>My notes</h1>" in page(env, host=app.ip, port=8000)[0]
    # `check --flow` pins a request by X-Contrail-Pin: honoured through HAProxy only, not from elsewhere
    front, web1 = f"http://127.0.0.1:{env.port}/", f"http://{topology.by_role(cfg, 'web')[0].ip}/"
    assert {served_by(front, pin="app3") for _ in range(6)} == {"app3"}
    assert len({served_by(web1, pin="app3") for _ in range(6)}) > 1


def test_a_migration_written_after_fab_migrate_is_applied_by_the_next_push(
    django42: Env, django_releases: Path
) -> None:
    """`fab migrate` migrates the live release; a migration made locally since (the real `makemigrations`)
    is not the live release's, and the next push must still apply it."""
    env = django42
    edit(
        env.project / "notes" / "models.py",
        "    created =",
        "    pinned = models.BooleanField(default=False)\n    created =",
    )
    makemigrations(env.project, django_tools(django_releases, "4.2"))
    migrated = env.fab("migrate")
    assert migrated.status == 0, migrated.stderr
    edit(
        env.project / "notes" / "views.py",
        "{Note.objects.count()} notes",
        "{Note.objects.filter(pinned=False).count()} notes",
    )
    pushed = push(env)
    assert "(migrated)" in pushed.stdout
    assert re.search(r"\d+ notes", page(env)[0])


def served_by(url: str, pin: str) -> str:
    # (the Host a browser sends through the front door: the app allows that one)
    request = urllib.request.Request(url, headers={"X-Contrail-Pin": pin, "Host": "127.0.0.1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["X-Contrail-Node"]


def test_check_names_local_memory_and_a_flow_fails_across_servers(django42: Env, figures: list[str]) -> None:
    env = django42
    user, password = FLOW_USER
    ssh(
        env.project,
        "app1",
        "cd /srv/app/current && set -a && . /etc/contrail/app.env && set +a && "
        f"DJANGO_SUPERUSER_PASSWORD={password} venv/bin/python manage.py createsuperuser --noinput "
        f"--username {user} --email {user}@example.com",
    )
    settings = env.project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nSESSION_ENGINE = "django.contrib.sessions.backends.cache"\n')
    push(env)
    flow = env.project / "flow.toml"
    flow.write_text(FLOW)
    result, report = check(env, "--flow", str(flow))
    print(contrail("check", "--flow", str(flow), cwd=env.project).stdout)
    assert result.status == 1 and report["passed"] is False
    failed = "\n".join(failing(report))
    figures.append(f"contrail check --flow, 3 app servers, failing: {report['seconds']} s")
    assert "cache 'default' app1 → app2: written through app1, missing through app2" in failed
    assert "LocMemCache is per server" in failed
    assert "file storage" in failed and "FileSystemStorage at /srv/app/releases/" in failed
    assert "session app1 → app2" in failed  # in the cache, so in local memory
    findings = {f["check"]: f for f in report["findings"]}
    assert findings["flow, pinned"]["status"] == "pass"
    alternated = findings["flow, alternated"]
    assert alternated["status"] == "fail"
    assert alternated["detail"].startswith("step 3 ('set a session value') passes pinned, fails on app3 after app2")
    assert {findings[name]["status"] for name in ("DEBUG", "SECRET_KEY", "DATABASES")} == {"warn"}


def test_check_passes_once_the_settings_point_at_the_cache_node_and_shared_storage(
    django42: Env, figures: list[str]
) -> None:
    env = django42
    settings = env.project / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + "\nimport os\n\n"
        + 'CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", '
        + '"LOCATION": os.environ["REDIS_URL"]}}\n'
        + 'MEDIA_ROOT = "/srv/shared/media"\n'
    )
    requirements = env.project / "requirements.txt"
    requirements.write_text(requirements.read_text() + "redis>=5\n")
    push(env)
    result, report = check(env, "--flow", str(env.project / "flow.toml"), "--concurrency", "6")
    assert result.status == 0, failing(report)
    assert report["passed"] is True
    figures.append(f"contrail check --flow --concurrency 6, 3 app servers, passing: {report['seconds']} s")
    plain, timed = check(env)
    figures.append(f"contrail check (no flow), 3 app servers: {timed['seconds']} s")
    assert plain.status == 0


def test_a_refused_release_names_the_apps_own_error(django42: Env) -> None:
    views = django42.project / "notes" / "views.py"
    good = views.read_text()
    edit(views, "    Note.objects.create(", "    open('/etc/notes.log', 'a').write('visit')\n    Note.objects.create(")
    try:
        pushed = django42.fab("push")
    finally:
        views.write_text(good)
    assert pushed.status == 1
    assert "canary app1 failed" in pushed.stderr and "its page answers HTTP 500" in pushed.stderr
    assert (
        "PermissionError: [Errno 13] Permission denied: '/etc/notes.log' (notes/views.py:8 in index)" in pushed.stderr
    )


def test_the_cache_node_stopped_and_back(django42: Env) -> None:
    env = django42
    assert contrail("drill", "stop", "cache", cwd=env.project).status == 0
    try:
        status = contrail("status", cwd=env.project)
        assert re.search(r"cache\s.*redis not answering", status.stdout), status.stdout
        result, report = check(env)
        assert result.status == 1
        down = [line for line in failing(report) if line.startswith("cache 'default'")]
        assert len(down) == 3 and all("RedisCache: writing or reading failed" in line for line in down), down
        assert "notes" in page(env)[0]  # a page that uses neither the cache nor the session still answers
    finally:
        restored = contrail("drill", "restore", "cache", cwd=env.project)
    assert restored.status == 0, restored.stderr
    assert check(env)[0].status == 0
    logs = contrail("logs", "cache", "-n", "20", cwd=env.project)
    assert logs.status == 0 and "cache | " in logs.stdout and "Ready to accept connections" in logs.stdout
    verified = contrail("verify", cwd=env.project)
    assert verified.status == 0, verified.stdout[-2000:] + verified.stderr


@pytest.fixture(scope="module")
def django52_mariadb(
    built_boxes: Path, django_releases: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    built = contrail("build-boxes", "db-mariadb", "cache-memcached", cwd=built_boxes)
    assert built.status == 0, built.stderr
    project = startproject(tmp_path_factory.mktemp("maria") / "site", django_tools(django_releases, "5.2"), "5.2")
    with environment(project, "maria", "--db", "mysql", "--web", "1", settings={'"redis"': '"memcached"'}) as env:
        yield env


def test_django_52_on_mariadb_with_memcached(django52_mariadb: Env) -> None:
    env = django52_mariadb
    contrail_settings = (env.project / "devenv" / "contrail_settings.py").read_text()
    assert "pymysql.install_as_MySQLdb()" in contrail_settings and "PyMySQL" in contrail_settings
    push(env)
    assert "<h1>Notes</h1>" in page(env)[0]
    edit(env.project / "notes" / "views.py", "<h1>Notes</h1>", "<h1>Notes on MariaDB</h1>")
    push(env)
    cfg = config.load(env.project / config.FILENAME)
    for app in topology.by_role(cfg, "app"):
        assert "<h1>Notes on MariaDB</h1>" in page(env, host=app.ip, port=8000)[0]
    settings = env.project / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + "\nimport os\n\n"
        + 'CACHES = {"default": {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", '
        + '"LOCATION": os.environ["CACHE_URL"].removeprefix("memcached://")}}\n'
    )
    (env.project / "requirements.txt").write_text((env.project / "requirements.txt").read_text() + "pymemcache>=4\n")
    push(env)
    result, report = check(env)
    statuses = {(f["check"], f["server"]): f["status"] for f in report["findings"]}
    assert statuses[("cache 'default'", "app1 → app2")] == "pass"
    assert statuses[("database", "all")] == "pass"
    assert statuses[("file storage", "app1 → app2")] == "fail" and result.status == 1  # MEDIA_ROOT untouched


@pytest.fixture(scope="module")
def flask_env(built_boxes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    project = flask_app(tmp_path_factory.mktemp("flask") / "site")
    with environment(project, "flask", "--wsgi", "app:app", "--web", "1") as env:
        yield env


def test_a_flask_app_writing_beside_its_code_is_named_by_check(flask_env: Env) -> None:
    env = flask_env
    push(env)
    cfg = config.load(env.project / config.FILENAME)
    apps = topology.by_role(cfg, "app")
    # each server counts its own visits, in its own file (app1's canary check made its first)
    assert [page(env, host=apps[1].ip, port=8000)[0] for _ in range(3)][-1].endswith("<p>3 visits</p>")
    assert page(env, host=apps[2].ip, port=8000)[0].endswith("<p>1 visits</p>")
    boundary = "contrailboundary"
    upload = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=notes.txt\r\n\r\nhello\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(
        f"http://{apps[1].ip}:8000/upload",
        data=upload,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"stored\n"
    result, report = check(env)
    assert result.status == 1
    files = {f["server"]: f for f in report["findings"] if f["check"] == "files on disk"}
    assert "<release>/visits.sqlite3" in files[apps[0].name]["detail"]
    assert "<release>/uploads/notes.txt" in files[apps[1].name]["detail"]
    assert "SQLite database is per server" in files[apps[1].name]["fix"] and "/srv/shared" in files[apps[1].name]["fix"]
    state = next(f for f in report["findings"] if f["check"] == "state")
    assert state["status"] == "warn" and "--flow" in state["fix"]
