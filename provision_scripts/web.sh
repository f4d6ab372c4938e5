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

# Take an app server out of (drain) or back into (restore) this node's upstream, gracefully: Nginx's
# reload lets old workers finish their in-flight requests. Used by rolling pushes.
cat > /usr/local/sbin/contrail-upstream <<'SH'
#!/bin/sh
set -eu
conf=/etc/nginx/contrail-upstream.conf
ip=$(printf '%s' "${2:?usage: contrail-upstream drain|restore IP}" | sed 's/\./\\./g')
# drain: `[^n];` skips a line already ending in "down;", so draining twice changes nothing.
case "$1" in
  drain) sed -i "s/^\(\s*server $ip:8000 [^;]*[^n]\);/\1 down;/" "$conf" ;;
  restore) sed -i "s/^\(\s*server $ip:8000 [^;]*\) down;/\1;/" "$conf" ;;
  *) echo "usage: contrail-upstream drain|restore IP" >&2; exit 2 ;;
esac
nginx -t -q
nginx -s reload
SH
chmod 0755 /usr/local/sbin/contrail-upstream
