role        = "app"
description = "Gunicorn in a Python venv, ready for Django or any WSGI app"
scripts     = ["common.sh", "app.sh", "cleanup.sh"]
ports       = [8000]
smoke       = "/srv/app/venv/bin/gunicorn --version && /srv/app/venv/bin/python -c 'import venv'"
