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
# A VM's name (a container is named by the docker provider): Vagrant's own way restarts the network
# interfaces through systemd or ifupdown before it has configured them, and a Contrail VM has no systemd.
if [ "$(hostname)" != "$CONTRAIL_NODE" ]; then
  printf '%s\n' "$CONTRAIL_NODE" > /etc/hostname
  hostname "$CONTRAIL_NODE"
  sed -i "s/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t$CONTRAIL_NODE/" /etc/hosts
fi
