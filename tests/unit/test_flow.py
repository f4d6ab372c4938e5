"""Flow files and the flow client, against a real HTTP server on loopback that plays two app servers."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import ClassVar

import pytest

from contrail.errors import ConfigError
from contrail.watch import flow

GOOD = """[[step]]
path = "/login"

[[step]]
name = "log in"
method = "post"
path = "/login"
form = { user = "u{client}", n = 3 }
status = 302

[[step]]
path = "/me"
text = "hello u"
"""


def test_a_flow_file_loads_with_defaults(tmp_path):
    file = tmp_path / "flow.toml"
    file.write_text(GOOD)
    steps = flow.load(file)
    assert [s.name for s in steps] == ["GET /login", "log in", "GET /me"]
    assert steps[1].method == "POST" and steps[1].form == {"user": "u{client}", "n": "3"}
    assert steps[1].with_client(7).form["user"] == "u7"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\npath = '/'\nbody = 'x'\n", r"flow.toml:1: step 1: unknown key 'body'"),
        (
            "[[step]]\npath = '/'\n\n[[step]]\npath = 'x'\n",
            r"flow.toml:4: step 2: path must be given and start with '/'",
        ),
        ("[[step]]\npath = '/'\nmethod = 'TRACE'\n", r"flow.toml:1: step 1: method must be one of GET"),
        ("[[step]]\npath = '/'\nstatus = '200'\n", r"flow.toml:1: step 1: status must be a int"),
        ("[[step]]\npath = '/'\nform = { a = true }\n", r"form values must be strings or numbers"),
        ("[steps]\npath = '/'\n", r"flow.toml:1: a flow is a list of \[\[step\]\] tables"),
        ("[[step]\n", r"flow.toml:1: "),
    ],
)
def test_bad_flow_files_name_file_and_line(tmp_path, text, message):
    file = tmp_path / "flow.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        flow.load(file)


class Handler(http.server.BaseHTTPRequestHandler):
    """Two "servers" behind one port: the pin header picks one; sessions are per server (a dict each)."""

    sessions: ClassVar[dict[str, dict[str, str]]] = {"app1": {}, "app2": {}}
    seen: ClassVar[list[Message]] = []

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        node = self.headers.get("X-Contrail-Pin", "app1")
        self.send_response(status)
        for key, value in {"X-Contrail-Node": node, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:
        node = self.headers.get("X-Contrail-Pin", "app1")
        Handler.seen.append(self.headers)
        if self.path == "/login":
            self.answer(200, "form", {"Set-Cookie": "csrftoken=tok; Path=/"})
        else:
            sid = (self.headers.get("Cookie") or "").rpartition("sid=")[2].split(";")[0]
            user = self.sessions[node].get(sid)
            self.answer(200 if user else 403, f"hello {user}" if user else "who?")

    def do_POST(self) -> None:
        node = self.headers.get("X-Contrail-Pin", "app1")
        Handler.seen.append(self.headers)
        length = int(self.headers["Content-Length"])
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self.sessions[node][f"s-{form['user']}"] = form["user"]
        self.answer(302, "", {"Location": "/elsewhere", "Set-Cookie": f"sid=s-{form['user']}; Path=/"})


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.seen.clear()
    Handler.sessions = {"app1": {}, "app2": {}}
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def steps(tmp_path: Path) -> list[flow.Step]:
    file = tmp_path / "flow.toml"
    file.write_text(GOOD)
    return flow.load(file)


def test_pinned_the_flow_passes_keeping_cookies_and_sending_the_csrf_token(server, tmp_path):
    outcomes = flow.replay(server, steps(tmp_path), ["app1"])
    assert [(o.served_by, o.status, o.problem) for o in outcomes] == [
        ("app1", 200, ""),
        ("app1", 302, ""),
        ("app1", 200, ""),
    ]
    assert Handler.seen[1].get("X-CSRFToken") == "tok" and Handler.seen[1].get("X-Contrail-Pin") == "app1"


def test_alternated_the_first_step_that_needs_another_servers_state_fails(server, tmp_path):
    outcomes = flow.replay(server, steps(tmp_path), ["app1", "app2"])
    assert outcomes[-1].step == 2 and outcomes[-1].server == "app1"  # logged in on app2, asked app1
    assert outcomes[-1].problem == "answered HTTP 403"
    crowd = flow.crowd(server, steps(tmp_path), ["app1", "app2"], clients=4)
    assert crowd.failures[2] == 4 and not crowd.server_errors
