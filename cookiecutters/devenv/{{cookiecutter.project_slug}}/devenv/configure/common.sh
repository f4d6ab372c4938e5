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
