#!/bin/bash
# app: Gunicorn (Debian's) and a venv that sees it, ready for any WSGI app or Django.
# Releases land in /srv/app/releases/<id>, `current` points at the live one; the app program
# is defined by `up` (it knows the entry point), so nothing runs here until then.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q python3-venv python3-pip gunicorn libpq5

id app >/dev/null 2>&1 || useradd --system --home-dir /srv/app --shell /usr/sbin/nologin app
install -d -o vagrant -g vagrant /srv/app /srv/app/releases /srv/app/shared /srv/app/wheels
# The base venv: Gunicorn comes from the system site-packages; releases get their own venvs on top.
[ -x /srv/app/venv/bin/python ] || python3 -m venv --system-site-packages /srv/app/venv
chown -R vagrant:vagrant /srv/app/venv
