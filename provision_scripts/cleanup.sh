#!/bin/bash
# Last script of every box: drop build-time state so the image is small and carries no build settings.
set -euo pipefail
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*
rm -f /etc/apt/apt.conf.d/00contrail-proxy /usr/sbin/policy-rc.d
rm -f /etc/ssh/ssh_host_*
