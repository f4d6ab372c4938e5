"""`contrail check`'s verdicts from what the servers answered (pure functions)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from contrail import config
from contrail.deploy.rollout import Project
from contrail.environment import dev
from contrail.watch import check

SETTINGS = {
    "debug": False,
    "secret_key": "k1",
    "databases": {"default": "django.db.backends.postgresql"},
    "caches": {"default": "django.core.cache.backends.locmem.LocMemCache"},
    "session_engine": "django.contrib.sessions.backends.db",
    "storage": "django.core.files.storage.filesystem.FileSystemStorage",
    "storage_location": "/srv/app/releases/20261129-1",
}


def test_files_written_on_one_server_are_named_with_the_fix():
    found = check.file_findings(
        [["/srv/app/releases/20261129-1/visits.sqlite3", "/srv/app/releases/20261129-1/uploads/a.txt", ""], [""]],
        ["app1", "app2"],
    )
    assert [(f.server, f.status) for f in found] == [("app1", "fail"), ("app2", "pass")]
    assert "<release>/visits.sqlite3, <release>/uploads/a.txt" in found[0].detail
    assert "SQLite database is per server" in found[0].fix and "/srv/shared" in found[0].fix


def test_settings_that_cannot_hold_across_servers_fail_and_debug_warns():
    other = {**SETTINGS, "secret_key": "k2", "debug": True, "databases": {"default": "django.db.backends.sqlite3"}}
    found = {f.check: f for f in check.settings_findings(["app1", "app2"], [SETTINGS, other])}
    assert found["SECRET_KEY"].status == "fail" and found["database"].status == "fail"
    assert found["DEBUG"].status == "warn" and found["DEBUG"].server == "app2"
    same = {f.check: f.status for f in check.settings_findings(["app1", "app2"], [SETTINGS, SETTINGS])}
    assert same == {"SECRET_KEY": "pass", "database": "pass"}


def test_state_missing_through_the_next_server_names_the_backend_and_the_fix():
    cache = check._state_finding("cache:default", "app1 → app2", False, "", SETTINGS)
    assert cache.status == "fail" and "LocMemCache is per server" in cache.detail and "REDIS_URL" in cache.fix
    storage = check._state_finding("storage", "app1 → app2", False, "", SETTINGS)
    assert "FileSystemStorage at /srv/app/releases/20261129-1" in storage.detail and "/srv/shared/media" in storage.fix
    down = check._state_finding("session", "app1 → app2", False, "redis.exceptions.ConnectionError: x", SETTINGS)
    assert down.status == "fail" and "ConnectionError" in down.detail
    assert check._state_finding("session", "app1 → app2", True, "", SETTINGS).status == "pass"


def test_the_json_report_says_whether_everything_passed():
    report = check.Report([check.Finding("DEBUG", "all", "warn", "x")], 0.4)
    assert '"passed": true' in report.as_json() and not report.failed


def tomcat_project(tmp_path: Path, web_xml: str) -> Project:
    """A Tomcat project as startdev writes it, with its built .war."""
    war = tmp_path / "target" / "shop.war"
    war.parent.mkdir()
    with zipfile.ZipFile(war, "w") as archive:
        archive.writestr("WEB-INF/web.xml", web_xml)
    toml = tmp_path / "contrail.toml"
    toml.write_text('[environment]\nname = "shop"\n\n[app]\nframework = "tomcat"\nwar = "target/shop.war"\n')
    cfg = config.load(toml)
    return Project(cfg, dev.environment(cfg))


WEB_XML = '<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">{}</web-app>'
HEALTH = [
    {"node": "app1", "release": "r2", "versions": [{"version": "r1", "sessions": 2}, {"version": "r2", "sessions": 5}]},
    {"node": "app2", "release": "r2", "versions": [{"version": "r2", "sessions": 3}]},
    {},  # app3 did not answer
]


def test_tomcat_sessions_are_reported_per_server_with_what_replicating_them_takes(tmp_path: Path) -> None:
    [finding] = check.session_findings(tomcat_project(tmp_path, WEB_XML.format("")), HEALTH)
    assert (finding.check, finding.server, finding.status) == ("sessions", "all", "warn")
    assert finding.detail.endswith("Sessions now: app1 7, app2 3, app3 0")
    assert finding.fix.startswith("to replicate them: mark the app <distributable/>")


def test_a_distributable_app_is_told_what_its_servers_still_lack(tmp_path: Path) -> None:
    project = tomcat_project(tmp_path, WEB_XML.format("<distributable/>"))
    assert project.cfg.app.war is not None and check.war_is_distributable(project.cfg.app.war)
    [finding] = check.session_findings(project, HEALTH)
    assert finding.fix.startswith("the app is marked <distributable/>")
    assert not check.war_is_distributable(tmp_path / "missing.war")
    (tmp_path / "broken.war").write_bytes(b"not a zip")
    assert not check.war_is_distributable(tmp_path / "broken.war")
