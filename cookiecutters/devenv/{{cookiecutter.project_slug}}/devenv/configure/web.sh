#!/bin/bash
# web: Nginx → every app server (retrying the next on failure); static files from /srv/static/current.
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail

install -d -o vagrant -g vagrant /srv/static /srv/static/empty
[ -e /srv/static/current ] || ln -s /srv/static/empty /srv/static/current
# The app servers, one line each: `contrail-upstream drain|restore IP` marks one down during a rolling push.
cat > /etc/nginx/contrail-upstream.conf <<'CFG'
{%- for node in cookiecutter.contrail.app_node_list %}
server {{ node.ip }}:8000 max_fails=1 fail_timeout=5s;
{%- endfor %}
CFG
{%- if cookiecutter.contrail.app_server == "tomcat" %}
# Sessions live in one Tomcat each: a request that carries one goes to the server that made it (its
# JSESSIONID ends with that Tomcat's jvmRoute, .app2), the others standing by for when that server's
# health checks fail (`contrail-upstream down` marks it, drains do not: see the web box).
cat > /etc/nginx/contrail-routes.conf <<'CFG'
{%- for node in cookiecutter.contrail.app_node_list %}
upstream app_{{ node.name }} {
    server {{ node.ip }}:8000 max_fails=1 fail_timeout=5s;
{%- for other in cookiecutter.contrail.app_node_list if other.name != node.name %}
    server {{ other.ip }}:8000 backup;
{%- endfor %}
    keepalive 4;
}
{%- endfor %}
CFG
{%- endif %}
cat > /etc/nginx/conf.d/contrail.conf.new <<'CFG'
upstream app {
    # The app server with the fewest requests in progress: a slow one (a long GC pause, a slow query)
    # holds its requests longer and so gets fewer new ones; round robin would keep giving it a third.
    least_conn;
    include /etc/nginx/contrail-upstream.conf;
    keepalive 16;
}
# `contrail check --flow` pins a request to one app server (X-Contrail-Pin: app2), honoured only on
# requests that come through the environment's HAProxy; any other request goes to the upstream.
geo $contrail_from_proxy {
    default 0;
    {{ cookiecutter.contrail.proxy_ip }} 1;
}
{%- if cookiecutter.contrail.app_server == "tomcat" %}
include /etc/nginx/contrail-routes.conf;
map $cookie_JSESSIONID $contrail_session_upstream {
    default app;
{%- for node in cookiecutter.contrail.app_node_list %}
    "~\.{{ node.name }}$" app_{{ node.name }};
{%- endfor %}
}
{%- endif %}
map "$contrail_from_proxy:$http_x_contrail_pin" $contrail_upstream {
    default {{ "$contrail_session_upstream" if cookiecutter.contrail.app_server == "tomcat" else "app" }};
{%- for node in cookiecutter.contrail.app_node_list %}
    "1:{{ node.name }}" {{ node.ip }}:8000;
{%- endfor %}
}
server {
    listen 80 default_server;
    add_header X-Contrail-Web $hostname always;
    location /static/ {
        alias /srv/static/current/;
        expires 1h;
    }
    location / {
        proxy_pass http://$contrail_upstream;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_tries 3;
        proxy_connect_timeout 2s;
    }
}
CFG
mv /etc/nginx/conf.d/contrail.conf.new /etc/nginx/conf.d/contrail.conf
nginx -t -q
# A graceful reload; a start if supervisor has not started Nginx yet.
nginx -s reload 2>/dev/null || supervisorctl restart nginx >/dev/null

# Active health checks of every app server (the web box's contrail-healthd): a server that stops
# answering its health endpoint within 0.5 s twice in a row leaves this node's upstream, and comes back
# after two good answers. The upstream was just written with every server in: the checker starts afresh.
rm -rf /run/contrail-upstream
cat > /etc/supervisor/conf.d/contrail-health.conf <<'CONF'
[program:contrail-health]
command=/usr/local/sbin/contrail-healthd{% for node in cookiecutter.contrail.app_node_list %} {{ node.ip }}{% endfor %}
autorestart=true
; running once started (supervisor's default waits a second before it says so, and `restart` below waits for that)
startsecs=0
stdout_logfile=/var/log/supervisor/contrail-health.log
redirect_stderr=true
CONF
updated=$(supervisorctl update)  # (it rereads the configuration; a program it adds, it starts)
[[ "$updated" == *"contrail-health: "* ]] || supervisorctl restart contrail-health >/dev/null
