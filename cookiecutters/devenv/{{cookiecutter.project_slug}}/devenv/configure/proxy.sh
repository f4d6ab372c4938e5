#!/bin/bash
# proxy: HAProxy → every web node, health-checked through to an app server; stats on :8404.
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail
: "${STATS_PASSWORD:?}"

cat > /etc/haproxy/haproxy.cfg.new <<CFG
global
    log stdout format raw local0
    stats socket /run/haproxy/admin.sock mode 660 level admin
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend http
    bind :80
    default_backend web
backend web
    balance roundrobin
    # A new connection to Nginx for every request, none kept idle: an idle connection that Nginx closes
    # (its old workers do, on every reload during a rolling push) while HAProxy sends the next request
    # on it would reach the client as a connection closed without an answer.
    option http-server-close
    # HTTP/1.1 with a Host, as a browser asks: an app server may refuse a request without one (Tomcat
    # answers 400 to the empty Host Nginx passes on for an HTTP/1.0 check).
    option httpchk
    http-check send meth GET uri /_contrail/health ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    # Every second while a web node is up; every 250 ms once a check has failed and while it is down, so
    # a node that comes (back) up is in rotation within half a second of answering (an `up`, a restart).
    default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2
{%- for node in cookiecutter.contrail.web_nodes %}
    server {{ node.name }} {{ node.ip }}:80 check
{%- endfor %}
listen stats
    bind :8404
    stats enable
    stats uri /
    stats refresh 5s
    stats auth admin:${STATS_PASSWORD}
CFG
haproxy -c -q -f /etc/haproxy/haproxy.cfg.new
if ! cmp -s /etc/haproxy/haproxy.cfg.new /etc/haproxy/haproxy.cfg; then
  mv /etc/haproxy/haproxy.cfg.new /etc/haproxy/haproxy.cfg
  # Master-worker reload (no dropped connections); a start if supervisor has not started it yet.
  supervisorctl signal USR2 haproxy >/dev/null 2>&1 || supervisorctl restart haproxy >/dev/null
else
  rm /etc/haproxy/haproxy.cfg.new
fi
