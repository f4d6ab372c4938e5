"""The switch on a Tomcat app server (contrail-switch --server tomcat), on the host: parallel deployment
through the manager's text interface, played by a local HTTP server that keeps Tomcat's state the way
the manager reports it (versions of the root context, running or stopped) and answers the health
endpoint with the newest running version, as the tomcat box's does. The real Tomcat is exercised by the
end-to-end tests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import BOX_FILES, box_script

SCRIPT = BOX_FILES / "contrail-switch"
cs = box_script("contrail-switch")
CREDENTIALS = "contrail-deploy:s3cret"

# `list` as Tomcat 10.1's manager answers it (the placeholder ROOT and one release deployed beside it)
LISTING = (
    "OK - Listed applications for virtual host [localhost]\n"
    "/_contrail:running:0:_contrail\n"
    "/manager:running:0:/usr/share/tomcat10-admin/manager\n"
    "/:running:0:ROOT\n"
    "/:running:2:ROOT##20261129-101500-123456\n"
)


class Tomcat:
    """The manager and the health endpoint of one Tomcat."""

    def __init__(self) -> None:
        self.versions: dict[str, str] = {"": "running"}  # version -> state
        self.calls: list[str] = []
        tomcat = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/_contrail/health":
                    running = sorted(v for v, state in tomcat.versions.items() if state == "running")
                    release = (running[-1] or "placeholder") if running else "none"
                    return self.answer(200, json.dumps({"node": "app1", "release": release}))
                expected = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self.answer(401, "<html>401 Unauthorized</html>")
                command = url.path.rpartition("/")[2]
                tomcat.calls.append(f"{command} {params.get('version', '')}".strip())
                return self.answer(200, tomcat.manager(command, params))

            def answer(self, status: int, body: str) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.health_url, self.manager_url = f"{base}/_contrail/health", f"{base}/manager/text"

    def manager(self, command: str, params: dict[str, str]) -> str:
        version = params.get("version", "")
        context = f"/##{version}" if version else "/"
        if command == "list":
            lines = [f"/:{state}:0:ROOT{'##' + v if v else ''}" for v, state in sorted(self.versions.items())]
            return "OK - Listed applications for virtual host [localhost]\n" + "\n".join(lines) + "\n"
        if command == "deploy":
            if version in self.versions:
                return f"FAIL - Application already exists at path [{context}]\n"
            if "broken" in Path(params["war"].removeprefix("file:")).read_text():
                self.versions[version] = "stopped"
                return f"FAIL - Deployed application at context path [{context}] but context failed to start\n"
            self.versions[version] = "running"
            return f"OK - Deployed application at context path [{context}]\n"
        if command == "undeploy":
            if self.versions.pop(version, None) is None:
                return f"FAIL - No context exists named [{context}]\n"
            return f"OK - Undeployed application at context path [{context}]\n"
        return f"FAIL - Unknown command [{command}]\n"

    def ask(self, timeout: float) -> str | None:
        return cs.ask_health(self.health_url, timeout)


@pytest.fixture
def tomcat() -> Iterator[Tomcat]:
    server = Tomcat()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def releases(root: Path, wars: dict[str, str], current: str = "placeholder") -> Path:
    """An app directory as the tomcat box has it, with a ROOT.war (its content, for the fake) per release."""
    app = root / "app"
    (app / "releases" / "placeholder").mkdir(parents=True)
    for rid, content in wars.items():
        (app / "releases" / rid).mkdir()
        (app / "releases" / rid / "ROOT.war").write_text(content)
    (app / "current").symlink_to(f"releases/{current}")
    return app


def switch(tomcat: Tomcat, app: Path, rid: str, credentials: str = CREDENTIALS) -> bool:
    manager = cs.Manager(tomcat.manager_url, credentials, timeout=5)
    return cs.switch(rid, app, tomcat.ask, 3, 2, 5, manager=manager)


def test_the_manager_listing_is_read_as_the_root_contexts_versions() -> None:
    assert cs.root_versions(LISTING) == [
        cs.Deployed("", "running", 0),
        cs.Deployed("20261129-101500-123456", "running", 2),
    ]
    assert cs.root_versions("OK - Listed applications for virtual host [localhost]\n") == []
    assert cs.manager_reason("FAIL - No context exists named [/##r9]\n") == "No context exists named [/##r9]"


def test_a_release_is_deployed_beside_the_live_one_and_current_follows(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok", "r2": "ok"})
    assert switch(tomcat, app, "r1")
    assert switch(tomcat, app, "r2")
    assert os.readlink(app / "current") == "releases/r2"
    assert tomcat.versions == {"": "running", "r1": "running", "r2": "running"}, "old versions stay for their sessions"
    assert tomcat.calls == ["list", "deploy r1", "list", "deploy r2"]
    tomcat.calls.clear()
    assert not switch(tomcat, app, "r2"), "already live: nothing done"
    assert tomcat.calls == []


def test_switching_back_undeploys_the_newer_versions(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok", "r2": "ok", "r3": "ok"})
    for rid in ("r1", "r2", "r3"):
        switch(tomcat, app, rid)
    tomcat.calls.clear()
    assert switch(tomcat, app, "r1")
    assert tomcat.versions == {"": "running", "r1": "running"}
    assert tomcat.calls == ["list", "undeploy r2", "undeploy r3"], "r1 still ran: not deployed again"
    assert os.readlink(app / "current") == "releases/r1"


def test_a_release_undeployed_by_tomcat_meanwhile_is_deployed_again(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok", "r2": "ok"})
    switch(tomcat, app, "r1")
    switch(tomcat, app, "r2")
    del tomcat.versions["r1"]  # its sessions ended: Tomcat undeployed it (undeployOldVersions)
    assert switch(tomcat, app, "r1")
    assert tomcat.versions == {"": "running", "r1": "running"}


def test_a_war_that_does_not_start_never_serves_and_leaves_current_alone(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok", "r2": "broken"})
    switch(tomcat, app, "r1")
    with pytest.raises(cs.Failed) as failed:
        switch(tomcat, app, "r2")
    assert str(failed.value) == (
        "Tomcat did not start release r2: Deployed application at context path [/##r2] but context failed to start"
    )
    assert tomcat.versions == {"": "running", "r1": "running"}, "undeployed again"
    assert os.readlink(app / "current") == "releases/r1"
    assert tomcat.ask(1) == "r1"


def test_a_stopped_version_left_by_a_failed_deploy_is_replaced(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok"})
    tomcat.versions["r1"] = "stopped"
    assert switch(tomcat, app, "r1")
    assert tomcat.calls == ["list", "undeploy r1", "deploy r1"]
    assert tomcat.versions["r1"] == "running"


def test_wrong_credentials_and_a_release_without_its_war_are_named(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok"})
    with pytest.raises(cs.Failed, match=r"Tomcat's manager refused `list`: <html>401 Unauthorized</html> \(HTTP 401\)"):
        switch(tomcat, app, "r1", credentials="contrail-deploy:wrong")
    (app / "releases" / "r2").mkdir()
    with pytest.raises(cs.Failed, match=r"release r2 has no ROOT\.war"):
        switch(tomcat, app, "r2")
    assert os.readlink(app / "current") == "releases/placeholder"


def test_the_script_reads_the_managers_credentials_from_its_file(tomcat: Tomcat, tmp_path: Path) -> None:
    app = releases(tmp_path, {"r1": "ok"})
    secret = tmp_path / "manager.secret"
    command = [sys.executable, str(SCRIPT), "r1", "--server", "tomcat", "--app-dir", str(app)]
    command += ["--health-url", tomcat.health_url, "--manager-url", tomcat.manager_url, "--manager-secret", str(secret)]
    missing = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.startswith("cannot read Tomcat's manager credentials: [Errno 2]")
    secret.write_text(CREDENTIALS + "\n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert tomcat.versions["r1"] == "running"


def test_the_box_says_which_server_it_runs(tmp_path: Path) -> None:
    role = tmp_path / "contrail-role"
    assert cs.box_server(role) == "gunicorn", "no role file: the app box's"
    role.write_text("tomcat\n")
    assert cs.box_server(role) == "tomcat"
    role.write_text("app\n")
    assert cs.box_server(role) == "gunicorn"


def test_switching_back_to_the_placeholder_the_box_linked_is_a_no_op(tomcat: Tomcat, tmp_path: Path) -> None:
    """A first push that failed: `current` still names the placeholder as the box made it (absolute)."""
    app = releases(tmp_path, {})
    (app / "current").unlink()
    (app / "current").symlink_to(app / "releases" / "placeholder")
    assert not switch(tomcat, app, "placeholder")
    assert tomcat.calls == []


def test_old_versions_stay_for_their_sessions_but_never_more_than_keep(tmp_path: Path, tomcat: Tomcat) -> None:
    wars = {f"r{i}": "ok" for i in range(1, 8)}
    app = releases(tmp_path, wars)
    for rid in wars:
        manager = cs.Manager(tomcat.manager_url, CREDENTIALS, timeout=5)
        cs.switch(rid, app, tomcat.ask, 3, 2, 3, manager=manager)
    assert sorted(tomcat.versions) == ["", "r5", "r6", "r7"], "the newest 3 with their sessions (and the placeholder)"
    deployed = [cs.Deployed(v, "running", 1) for v in ("", "r1", "r2", "r3", "r4")]
    assert cs.versions_beyond(deployed, "r4", 2) == ["r1", "r2"]
    assert cs.versions_beyond(deployed, "r2", 5) == [], "a switch back keeps what is older than it"
    assert cs.versions_beyond(deployed, "r4", 0) == ["r1", "r2", "r3"]
