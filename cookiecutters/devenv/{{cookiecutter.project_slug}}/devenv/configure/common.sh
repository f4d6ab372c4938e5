#!/bin/bash
# Every machine, before its role's script (the Vagrantfile runs the two as one provisioner): this
# environment's own SSH key replaces Vagrant's insecure one, and apt goes through the team's apt cache.
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail
: "${CONTRAIL_AUTHORIZED_KEY:?}"

printf '%s\n' "$CONTRAIL_AUTHORIZED_KEY" > /home/vagrant/.ssh/authorized_keys
if [ -n "${CONTRAIL_APT_CACHE:-}" ]; then
  printf 'Acquire::http::Proxy "%s";\n' "$CONTRAIL_APT_CACHE" > /etc/apt/apt.conf.d/00contrail-proxy
fi

# An app server with no release yet (new, or recreated) while another app server serves one stays out
# of rotation: its app is not started, so Nginx finds nothing listening and sends its requests to the
# others; `contrail up` then gives it the live release and starts it. True when this server waits.
# (For app.sh and tomcat.sh.)
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
