#!/bin/bash
# proxy: HAProxy in master-worker mode under supervisor. `up` writes the topology's haproxy.cfg;
# until then the box answers 503 saying so.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q haproxy

cat > /etc/haproxy/haproxy.cfg <<'CFG'
global
    log stdout format raw local0
    stats socket /run/haproxy/admin.sock mode 660 level admin
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend http
    bind :80
    http-request return status 503 content-type text/plain string "contrail proxy box: no backends yet (run contrail up)\n"
CFG
cat > /etc/supervisor/conf.d/haproxy.conf <<'CONF'
[program:haproxy]
command=/bin/sh -c 'mkdir -p /run/haproxy && exec /usr/sbin/haproxy -W -db -f /etc/haproxy/haproxy.cfg'
autorestart=true
stopsignal=USR1
stdout_logfile=/var/log/supervisor/haproxy.log
redirect_stderr=true
CONF
