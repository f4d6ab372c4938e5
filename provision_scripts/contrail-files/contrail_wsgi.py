"""Contrail's WSGI entry point on app servers, baked into the app box at /srv/app/lib.

Gunicorn runs `contrail_wsgi:application` with --chdir /srv/app/current, so every worker that boots
after a release switch imports the new release's code (through the `current` symlink, never a
resolved path: gunicorn#394). It wraps the user's WSGI callable (CONTRAIL_WSGI="module:callable"):
- `/_contrail/health` answers without calling the app: {"node", "release", "pid"} — cheap enough for
  HAProxy's and Contrail's health checks, and it reports the release this worker really runs;
- every response carries X-Contrail-Node and X-Contrail-Release headers;
- `contrail drill slow` makes every app request wait (the health endpoint stays fast, like an app whose
  database got slow).
Before the first push `current` is a placeholder release and the app answers that no release is live.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import time

CURRENT = os.environ.get("CONTRAIL_APP_DIR", "/srv/app/current")
NODE = os.environ.get("CONTRAIL_NODE") or socket.gethostname()
HEALTH_PATH = "/_contrail/health"
SLOW_FILE = "/srv/app/run/slow-ms"  # written by `contrail drill slow`, removed by `drill restore`


def _release(directory: str) -> str:
    try:
        with open(os.path.join(directory, ".contrail-release"), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return "none"


def load(directory: str = CURRENT):
    """The user's WSGI callable from `directory` (None before the first push)."""
    target = os.environ.get("CONTRAIL_WSGI", "")
    if not target or _release(directory) in ("none", "placeholder"):
        return None
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "application")


def _drill_delay() -> None:
    """The delay a `contrail drill slow` asked for, in milliseconds; nothing when no drill is active."""
    try:
        with open(SLOW_FILE, encoding="ascii") as handle:
            milliseconds = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return
    time.sleep(milliseconds / 1000)


def _placeholder(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"Contrail: {NODE} is up; no release is live yet (run `fab push`).\n".encode()]


RELEASE = _release(CURRENT)
os.environ["CONTRAIL_RELEASE"] = RELEASE  # for the app to show or log
os.environ["CONTRAIL_NODE"] = NODE
APP = load() or _placeholder
HEADERS = [("X-Contrail-Node", NODE), ("X-Contrail-Release", RELEASE)]


def application(environ, start_response):
    if environ.get("PATH_INFO") == HEALTH_PATH:
        body = json.dumps({"node": NODE, "release": RELEASE, "pid": os.getpid()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *HEADERS])
        return [body]

    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, *HEADERS], exc_info)

    _drill_delay()
    return APP(environ, start)
