#!/bin/bash
# web: Nginx in the foreground under supervisor. `up` writes the upstream of app nodes;
# until then the default site answers 503 saying so.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q nginx-light

rm -f /etc/nginx/sites-enabled/default
cat > /etc/nginx/conf.d/contrail.conf <<'CFG'
server {
    listen 80 default_server;
    location / {
        default_type text/plain;
        return 503 "contrail web box: no upstream yet (run contrail up)\n";
    }
}
CFG
cat > /etc/supervisor/conf.d/nginx.conf <<'CONF'
[program:nginx]
command=/usr/sbin/nginx -g 'daemon off;'
autorestart=true
stopsignal=QUIT
stdout_logfile=/var/log/supervisor/nginx.log
redirect_stderr=true
CONF
