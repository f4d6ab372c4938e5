"""Gunicorn settings on Contrail app servers (baked into the app box at /srv/app/lib).

The master imports the *framework* named in CONTRAIL_PRELOAD (e.g. Django's WSGI handler), never the
app: workers forked after a HUP start warm (~0.03 s instead of ~0.5 s for Django) and still import the
app's own modules from `current`, so a HUP serves the new release. A push whose requirements changed
(a new venv) restarts the master instead, since its preloaded framework came from the old venv.
"""

import atexit
import importlib
import os
import sys

from gunicorn import glogging

for _module in filter(None, (m.strip() for m in os.environ.get("CONTRAIL_PRELOAD", "").split(","))):
    try:
        importlib.import_module(_module)
    except Exception as _err:  # a framework that cannot preload must not stop the master
        # e.g. the placeholder release before the first push installs the app (ImportError), or Django's
        # MySQL backend before the app's settings installed PyMySQL as MySQLdb (ImproperlyConfigured)
        print(f"contrail: not preloading {_module}: {_err}", flush=True)

bind = "0.0.0.0:8000"
workers = int(os.environ.get("CONTRAIL_WORKERS", "2"))
pidfile = "/srv/app/run/gunicorn.pid"
graceful_timeout = 10
timeout = 30
accesslog = "-"
errorlog = "-"
HEALTH_PATH = "/_contrail/health"  # (contrail_wsgi.HEALTH_PATH)


class QuietHealthLogger(glogging.Logger):
    """Gunicorn's logger, without an access line for the health endpoint: every web node's contrail-healthd
    asks it 4 times a second, which would make most of the app's log (`contrail logs`), and cost the
    server a line's formatting, writing and supervisor's copying each time."""

    def access(self, resp, req, environ, request_time):
        if environ.get("PATH_INFO") != HEALTH_PATH:
            super().access(resp, req, environ, request_time)


logger_class = QuietHealthLogger


def worker_exit(server, worker):
    """A worker on its way out (Gunicorn calls this last, in the worker) leaves at once, without Python's
    teardown of its interpreter. That teardown touches every object the worker inherited from the
    master (the preloaded framework), so the kernel first copies each of those copy-on-write pages:
    ~100 ms of CPU per worker here, and a push stops both workers of every app server at once — most of
    the CPU an all-at-once push costs. What the teardown does that matters is done first: the app's
    atexit functions (logging's flush among them), Django's database connections closed, the output
    flushed; and the exit status is kept (a worker that failed to boot tells the master so)."""
    exiting = sys.exc_info()[1]
    if exiting is not None and not isinstance(exiting, SystemExit):
        return  # (an error Gunicorn did not expect: Python reports it on the way out)
    code = exiting.code if isinstance(exiting, SystemExit) else None
    django_db = sys.modules.get("django.db")
    if django_db is not None:
        try:
            django_db.connections.close_all()
        except Exception as err:  # a connection that cannot close cleanly is dropped by the exit anyway
            print(f"contrail: closing the database connections: {err}", file=sys.stderr)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code is None else code if isinstance(code, int) else 1)  # (as sys.exit maps its argument)
