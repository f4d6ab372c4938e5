"""The catalog's HTTP client against real HTTP servers on loopback: credentials never follow a redirect
to another host, and a read has a size limit."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from email.message import Message
from typing import ClassVar

import pytest

from contrail.catalog import store as catalog_store
from contrail.catalog.store import CatalogURL, HttpStore
from contrail.errors import ToolFailed


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers GET /big with 100 bytes, /here with a redirect to /data on the same server, /away with one
    to the other server, and records what each request carried."""

    seen: ClassVar[list[tuple[int, str, Message]]] = []
    other: ClassVar[str] = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        Recorder.seen.append((port, self.path, self.headers))
        targets = {"/here": f"http://127.0.0.1:{port}/data", "/away": f"{Recorder.other}/data"}
        if self.path in targets:
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.end_headers()
            return
        body = b"x" * 100 if self.path == "/big" else b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    started = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder) for _ in range(2)]
    for httpd in started:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    urls = tuple(f"http://127.0.0.1:{h.server_address[1]}" for h in started)
    Recorder.seen.clear()
    Recorder.other = urls[1]
    try:
        yield urls  # type: ignore[misc]
    finally:
        for httpd in started:
            httpd.shutdown()


def test_credentials_stay_on_the_host_that_was_given_them(servers):
    catalog = servers[0]
    store = HttpStore(CatalogURL(catalog, "contrail", "s3cret"))
    assert store.read("here") == b"{}"
    assert store.read("away") == b"{}"
    carried = {(port, path): headers.get("Authorization") for port, path, headers in Recorder.seen}
    catalog_port, other_port = (int(u.rsplit(":", 1)[1]) for u in servers)
    assert carried[(catalog_port, "/data")] is not None  # a redirect on the same host keeps them
    assert carried[(other_port, "/data")] is None  # never sent to another host


def test_a_read_larger_than_the_limit_is_refused(servers, monkeypatch):
    monkeypatch.setattr(catalog_store, "READ_LIMIT", 50)
    with pytest.raises(ToolFailed, match=r"big is larger than"):
        HttpStore(CatalogURL(servers[0])).read("big")
