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
# A `gunicorn` command inside the venv, so the app runs with the venv's packages on the path.
cat > /srv/app/venv/bin/gunicorn <<'SH'
#!/bin/sh
exec /srv/app/venv/bin/python -c 'import sys; from gunicorn.app.wsgiapp import run; sys.argv[0] = "gunicorn"; sys.exit(run())' "$@"
SH
chmod 0755 /srv/app/venv/bin/gunicorn

# The runtime contract every release runs under: Contrail's WSGI wrapper (health endpoint, release
# headers), a placeholder release so a new topology is healthy before its first push, and the
# start script supervisor runs (the `app` program itself is written by `up`, which knows the app).
install -d -o vagrant -g vagrant /srv/app/lib /srv/app/venvs /srv/app/static
install -m 0644 /tmp/contrail-files/contrail_wsgi.py /tmp/contrail-files/contrail_probe.py \
  /tmp/contrail-files/gunicorn_conf.py /srv/app/lib/
install -d -o app -g app /srv/app/run
placeholder=/srv/app/releases/placeholder
install -d -o vagrant -g vagrant "$placeholder"
echo placeholder > "$placeholder/.contrail-release"
ln -sfn /srv/app/venv "$placeholder/venv"
[ -e /srv/app/current ] || ln -s "$placeholder" /srv/app/current
chown -h vagrant:vagrant "$placeholder/venv" /srv/app/current
cat > /usr/local/sbin/contrail-app <<'SH'
#!/bin/sh
# Gunicorn for the current release; settings from /etc/contrail/app.env (written by `up`).
set -a
. /etc/contrail/app.env
set +a
cd /srv/app/current
exec /srv/app/current/venv/bin/python -m gunicorn --config /srv/app/lib/gunicorn_conf.py \
  --chdir /srv/app/current --pythonpath /srv/app/lib contrail_wsgi:application
SH
chmod 0755 /usr/local/sbin/contrail-app
# The switch of a release (a drained server's idle wait, `current`, Gunicorn's reload, the health wait,
# the canary's page, pruning): the push runs it as vagrant over ssh; its logic is unit-tested on the
# host (tests/unit/test_contrail_switch.py).
bash /tmp/contrail-files/install-push-commands.sh contrail-switch
# The push's lock: likewise, tests/unit/test_contrail_push.py. The agent that starts both warm for the
# push: tests/unit/test_contrail_agent.py.
bash /tmp/contrail-files/install-push-commands.sh contrail-push contrail-agent
