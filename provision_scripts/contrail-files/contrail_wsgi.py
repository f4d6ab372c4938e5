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
  database got slow);
- `/_contrail/check` runs `contrail check`'s probes (contrail_probe.py), for that command only.
Before the first push `current` is a placeholder release and the app answers that no release is live.
"""

from __future__ import annotations

import hmac
import importlib
import json
import os
import socket
import sys
import time
import traceback
import urllib.parse

CURRENT = os.environ.get("CONTRAIL_APP_DIR", "/srv/app/current")
NODE = os.environ.get("CONTRAIL_NODE") or socket.gethostname()
HEALTH_PATH = "/_contrail/health"
SLOW_FILE = "/srv/app/run/slow-ms"  # written by `contrail drill slow`, removed by `drill restore`
CHECK_PATH = "/_contrail/check"
CHECK_TOKEN = "/srv/app/run/check-token"  # written by `contrail check` for the length of its run


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


def log_django_exceptions() -> None:
    """Every exception Django turns into a 500 page, with its traceback, in the app server's log (the
    project's LOGGING may send it nowhere, e.g. with DEBUG off): a push that a release's page fails
    names the app's own error from there."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return
    from django.core.signals import got_request_exception

    def print_it(sender, request=None, **kwargs):
        path = getattr(request, "path", "?")
        print(f"contrail: {NODE} release {RELEASE}: the app raised while serving {path}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()

    got_request_exception.connect(print_it, weak=False, dispatch_uid="contrail-log-exceptions")


DIRECTORY = pin()
RELEASE = _read(DIRECTORY, ".contrail-release")
CODE = _read(DIRECTORY, ".contrail-code")
os.environ["CONTRAIL_RELEASE"] = RELEASE  # for the app to show or log
os.environ["CONTRAIL_NODE"] = NODE
APP = load(DIRECTORY) or _placeholder
if APP is not _placeholder:
    log_django_exceptions()
HEADERS = [("X-Contrail-Node", NODE), ("X-Contrail-Release", RELEASE)]


def check_allowed(environ) -> bool:
    """`contrail check`'s probes answer only on the server itself, to the token it wrote for its run."""
    if environ.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
        return False
    try:
        with open(CHECK_TOKEN, encoding="ascii") as handle:
            token = handle.read().strip()
    except OSError:
        return False
    return bool(token) and hmac.compare_digest(token, environ.get("HTTP_X_CONTRAIL_CHECK", ""))


def _check(environ, start_response):
    if not check_allowed(environ):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    params = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    if APP is _placeholder:
        result = {"framework": "none"}
    elif os.environ.get("DJANGO_SETTINGS_MODULE"):
        import contrail_probe

        result = {"framework": "django", **contrail_probe.run(params.get("op", ""), params)}
    else:
        result = {"framework": "wsgi"}
    body = json.dumps({"node": NODE, "release": RELEASE, **result}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    if environ.get("PATH_INFO") == CHECK_PATH:
        return _check(environ, start_response)
    if environ.get("PATH_INFO") == HEALTH_PATH:
        served = {"node": NODE, "release": RELEASE, "code": CODE, "current": _current_release(), "pid": os.getpid()}
        body = json.dumps(served).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *HEADERS])
        return [body]

    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, *HEADERS], exc_info)

    _drill_delay()
    return APP(environ, start)
