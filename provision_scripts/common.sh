#!/bin/bash
# Every box: build-time apt settings, the vagrant user, and sshd owned by supervisor.
# Runs at build time only (Packer), never at `up`. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ -n "${CONTRAIL_APT_PROXY:-}" ]; then
  echo "Acquire::http::Proxy \"${CONTRAIL_APT_PROXY}\";" > /etc/apt/apt.conf.d/00contrail-proxy
else
  rm -f /etc/apt/apt.conf.d/00contrail-proxy
fi
# Package installs must not try to start services: supervisor starts them when the box runs.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
cat > /etc/apt/apt.conf.d/90contrail-slim <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
APT
apt-get update -q

bash /tmp/contrail-files/vagrant-access.sh
echo "$CONTRAIL_ROLE" > /etc/contrail-role
