"""Contrail's WSGI entry point on app servers, baked into the app box at /srv/app/lib.

Gunicorn runs `contrail_wsgi:application` with --chdir /srv/app/current. Each worker, when it boots,
pins the release `current` names at that moment (see `pin`): its code, templates and release id all
come from that one directory for the worker's whole life. It wraps the user's WSGI callable
(CONTRAIL_WSGI="module:callable"):
- `/_contrail/health` answers without calling the app: {"node", "release", "code", "current", "pid"}
  — the release and code digest this worker loaded, and the release `current` names now (they differ
  while a switch is under way, or after a switch that never reached Gunicorn); cheap enough for
  HAProxy's and Contrail's health checks;
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


def pin(current: str = CURRENT) -> str:
    """The directory `current` resolves to now, made this process's only app directory: its working
    directory and the first entry of sys.path, with the symlink itself and any other release taken out.

    Gunicorn puts the symlink on sys.path, and the master's own start directory (a release that may be
    long gone) is there too; a module or template reached through the symlink is whatever `current`
    names when it is opened, so a worker that imported part of its code before a switch and part
    after would serve a mix, and would report a release whose code it does not run."""
    directory = os.path.realpath(current)
    releases = os.path.dirname(directory)

    def other_release(entry: str) -> bool:
        return entry in ("", current) or os.path.dirname(os.path.realpath(entry)) == releases

    sys.path[:] = [directory, *(entry for entry in sys.path if not other_release(entry))]
    os.chdir(directory)
    return directory


def _read(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return "none"


def _current_release() -> str:
    """The release `current` names now (for the health endpoint; not what this worker serves)."""
    try:
        return os.path.basename(os.readlink(CURRENT))
    except OSError:
        return "none"


def load(directory: str):
    """The user's WSGI callable from `directory` (None before the first push)."""
    target = os.environ.get("CONTRAIL_WSGI", "")
    if not target or _read(directory, ".contrail-release") in ("none", "placeholder"):
        return None
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


DIRECTORY = pin()
RELEASE = _read(DIRECTORY, ".contrail-release")
CODE = _read(DIRECTORY, ".contrail-code")
os.environ["CONTRAIL_RELEASE"] = RELEASE  # for the app to show or log
os.environ["CONTRAIL_NODE"] = NODE
APP = load(DIRECTORY) or _placeholder
HEADERS = [("X-Contrail-Node", NODE), ("X-Contrail-Release", RELEASE)]


def application(environ, start_response):
    if environ.get("PATH_INFO") == HEALTH_PATH:
        served = {"node": NODE, "release": RELEASE, "code": CODE, "current": _current_release(), "pid": os.getpid()}
        body = json.dumps(served).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *HEADERS])
        return [body]

    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, *HEADERS], exc_info)

    _drill_delay()
    return APP(environ, start)
