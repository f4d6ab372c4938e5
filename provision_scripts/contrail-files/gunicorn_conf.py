"""Gunicorn settings on Contrail app servers (baked into the app box at /srv/app/lib).

The master imports the *framework* named in CONTRAIL_PRELOAD (e.g. Django's WSGI handler), never the
app: workers forked after a HUP start warm (~0.03 s instead of ~0.5 s for Django) and still import the
app's own modules from `current`, so a HUP serves the new release. A push whose requirements changed
(a new venv) restarts the master instead, since its preloaded framework came from the old venv.
"""

import importlib
import os

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
