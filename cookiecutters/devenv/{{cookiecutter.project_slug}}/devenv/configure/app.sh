#!/bin/bash
# app: Gunicorn's settings (entry point, workers, DATABASE_URL, CACHE_URL) and its supervisor program.
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail
: "${CONTRAIL_NODE:?}" "${CONTRAIL_NODE_IP:?}" "${DATABASE_URL:?}" "${DJANGO_SECRET_KEY:?}"

install -d -m 0755 /etc/contrail
usermod -aG app vagrant  # pushes (as vagrant) read app.env to check a release as the app will run it
# The app may create files in its release (uploads, a SQLite file): an app server's disk, as on any
# single server; `contrail check` names what it wrote. The files pushed stay read-only to it (they are
# hard-linked between releases). New directories inherit the group (setgid); its umask keeps them
# group-writable, so pushes (vagrant, in group app) can prune old releases.
chgrp app /srv/app/releases
chmod 2775 /srv/app/releases
# What every app server shares (a docker volume here), for an app pointed at it (e.g. MEDIA_ROOT).
install -d -o app -g app -m 2775 /srv/shared
umask 027
cat > /etc/contrail/app.env.new <<ENV
CONTRAIL_NODE=${CONTRAIL_NODE}
CONTRAIL_WSGI={{ cookiecutter.contrail.wsgi }}
CONTRAIL_WORKERS={{ cookiecutter.contrail.workers }}
DATABASE_URL=${DATABASE_URL}
{%- if cookiecutter.contrail.cache_nodes|int %}
CACHE_URL=${CACHE_URL}
{%- if cookiecutter.contrail.cache_engine == "redis" %}
REDIS_URL=${CACHE_URL}
{%- endif %}
{%- endif %}
{%- if cookiecutter.contrail.framework == "django" %}
{#- (django.db.migrations: every worker imports it, for contenttypes' handlers: ~5 ms of each new worker's start) #}
CONTRAIL_PRELOAD=django.core.handlers.wsgi,django.db.backends.{{ cookiecutter.contrail.db_scheme }}.base,django.template.backends.django,django.db.migrations
DJANGO_SETTINGS_MODULE={{ cookiecutter.contrail.settings_module }}
CONTRAIL_ALLOWED_HOSTS=127.0.0.1,localhost,${CONTRAIL_NODE},${CONTRAIL_NODE_IP}
DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY}
{%- endif %}
ENV
chgrp app /etc/contrail/app.env.new
umask 022
cat > /etc/supervisor/conf.d/app.conf <<'CONF'
[program:app]
command=/usr/local/sbin/contrail-app
user=app
umask=002
autorestart=true
stopsignal=TERM
stopwaitsecs=15
stdout_logfile=/var/log/supervisor/app.log
redirect_stderr=true
CONF

changed=0
cmp -s /etc/contrail/app.env.new /etc/contrail/app.env || changed=1
mv /etc/contrail/app.env.new /etc/contrail/app.env

# (app.sh and tomcat.sh carry this block alike: the team's staging topology runs them without common.sh)
# An app server with no release yet (new, or recreated) while another app server serves one stays out
# of rotation: its app is not started, so Nginx finds nothing listening and sends its requests to the
# others; `contrail up` then gives it the live release and starts it. True when this server waits.
waits_for_release() {
  [ "$(readlink /srv/app/current)" = /srv/app/releases/placeholder ] || return 1
  local name ip release
  while read -r name ip; do
    [ "$name" = "$CONTRAIL_NODE" ] && continue
    release=$(curl -fs --max-time 1 "http://$ip:8000/_contrail/health" | sed -n 's/.*"release": *"\([^"]*\)".*/\1/p')
    if [ -n "$release" ] && [ "$release" != placeholder ] && [ "$release" != none ]; then
      supervisorctl stop app >/dev/null 2>&1 || true
      echo "$CONTRAIL_NODE waits for the live release ($name serves one): \`contrail up\` delivers it"
      return 0
    fi
  done <<'NODES'
{%- for node in cookiecutter.contrail.app_node_list %}
{{ node.name }} {{ node.ip }}
{%- endfor %}
NODES
  return 1
}

# Until the app server's health endpoint answers (SECONDS at most), naming what runs it otherwise.
answers_health() {
  for _ in $(seq $(($1 * 5))); do
    curl -fs -o /dev/null http://127.0.0.1:8000/_contrail/health && return 0
    sleep 0.2
  done
  echo "$2 did not answer on :8000 (see /var/log/supervisor/app.log)" >&2
  return 1
}

waits_for_release && exit 0

# `update` rereads the configuration, starts a program it adds and restarts one whose program changed:
# then the app runs with this app.env already (a first up), and a restart would cost seconds more.
updated=$(supervisorctl update)
if [ "$changed" = 1 ] && [[ "$updated" != *"app: "* ]] && supervisorctl status app | grep -q RUNNING; then
  supervisorctl restart app >/dev/null
fi
answers_health 20 gunicorn
