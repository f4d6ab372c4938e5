"""`contrail check`'s probes, run inside a serving worker by Contrail's WSGI wrapper (baked into the app
box at /srv/app/lib): they exercise the app's *configured* Django backends — sessions, caches, the
default file storage — so that what one server writes can be read back through another, and report the
settings several servers must agree on. They know none of the app's URLs.

Reached only at /_contrail/check from the app server itself (127.0.0.1) with the token `contrail check`
writes for the length of its run (see contrail_wsgi.check_allowed); every probe value is removed again
by the "clean" operation.
"""

from __future__ import annotations

import hmac
import os
import threading
from importlib import import_module

MARK = "contrail-check"
WAIT = 2  # seconds a backend may take to answer one probe


def run(operation: str, params: dict[str, str]) -> dict[str, object]:
    from django.db import close_old_connections

    try:
        return {"write": write, "read": read, "clean": clean, "settings": settings}[operation](params)
    finally:
        close_old_connections()


def _attempt(probe, *args):
    """(result, error): a backend that fails (a cache node that is down) is a finding, not a crash; one
    that does not answer within WAIT seconds (a node that is gone: its connects hang) is one too."""
    outcome: list = []

    def attempt() -> None:
        try:
            outcome.append((probe(*args), ""))
        except Exception as err:  # any backend error is reported as such
            outcome.append((None, f"{type(err).__module__}.{type(err).__name__}: {err}"))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(WAIT)
    return outcome[0] if outcome else (None, f"no answer within {WAIT} s")


def _session_store():
    from django.conf import settings as django

    return import_module(django.SESSION_ENGINE).SessionStore


def _cache_aliases() -> list[str]:
    from django.conf import settings as django

    return list(django.CACHES)


def write(params: dict[str, str]) -> dict[str, object]:
    from django.core.cache import caches
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    value = params["value"]
    result: dict[str, object] = {}

    def save_session() -> str:
        store = _session_store()()
        store[MARK] = value
        store.save()
        return store.session_key

    key, error = _attempt(save_session)
    result["session"] = {"key": key, "error": error}
    for alias in _cache_aliases():
        _, error = _attempt(lambda a=alias: caches[a].set(f"{MARK}-{value}", value, 600))
        result[f"cache:{alias}"] = {"key": f"{MARK}-{value}", "error": error}
    name, error = _attempt(lambda: default_storage.save(f"{MARK}/{value}.txt", ContentFile(value.encode())))
    result["storage"] = {"key": name, "error": error}
    return result


def read(params: dict[str, str]) -> dict[str, object]:
    from django.core.cache import caches
    from django.core.files.storage import default_storage

    value = params["value"]
    result: dict[str, object] = {}
    if params.get("session"):
        found, error = _attempt(lambda: _session_store()(session_key=params["session"]).get(MARK))
        result["session"] = {"found": found == value, "error": error}
    for alias in _cache_aliases():
        found, error = _attempt(lambda a=alias: caches[a].get(f"{MARK}-{value}"))
        result[f"cache:{alias}"] = {"found": found == value, "error": error}
    if params.get("storage"):

        def read_file() -> bool:
            if not default_storage.exists(params["storage"]):
                return False
            with default_storage.open(params["storage"]) as handle:
                return handle.read() == value.encode()

        found, error = _attempt(read_file)
        result["storage"] = {"found": bool(found), "error": error}
    return result


def clean(params: dict[str, str]) -> dict[str, object]:
    from django.core.cache import caches
    from django.core.files.storage import default_storage

    value = params["value"]
    if params.get("session"):
        _attempt(lambda: _session_store()(session_key=params["session"]).delete())
    for alias in _cache_aliases():
        _attempt(lambda a=alias: caches[a].delete(f"{MARK}-{value}"))
    if params.get("storage"):
        _attempt(default_storage.delete, params["storage"])
        _attempt(lambda: os.rmdir(default_storage.path(MARK)))  # a file system storage's empty folder
    return {}


def settings(params: dict[str, str]) -> dict[str, object]:
    """What several servers must agree on, and where the app keeps state (never a secret's value)."""
    from django.conf import settings as django
    from django.core.files.storage import default_storage

    location = str(getattr(default_storage, "location", ""))  # (set up the lazy default storage)
    wrapped = default_storage._wrapped
    return {
        "debug": bool(django.DEBUG),
        # keyed with this run's random value: comparable between servers now, useless to anyone later
        "secret_key": hmac.new(params["value"].encode(), str(django.SECRET_KEY).encode(), "sha256").hexdigest(),
        "databases": {alias: db.get("ENGINE", "") for alias, db in django.DATABASES.items()},
        "caches": {alias: cache.get("BACKEND", "") for alias, cache in django.CACHES.items()},
        "session_engine": django.SESSION_ENGINE,
        "storage": f"{type(wrapped).__module__}.{type(wrapped).__name__}",
        "storage_location": location,
        "media_root": str(django.MEDIA_ROOT),
    }
