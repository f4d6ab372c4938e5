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

# Take an app server out of this node's upstream or put it back, gracefully (Nginx's reload lets old
# workers finish their in-flight requests). Two independent reasons keep a server out: a push drained
# it (drain/restore), or its health checks fail (down/up, from contrail-healthd). It is in rotation only
# when neither holds; each reason is a file under /run/contrail-upstream holding since when.
cat > /usr/local/sbin/contrail-upstream <<'SH'
#!/bin/sh
set -eu
usage="usage: contrail-upstream drain|restore|down|up IP | hold IP SECONDS | list"
state=/run/contrail-upstream
conf=/etc/nginx/contrail-upstream.conf
if [ "${1:-}" = list ]; then
  # Every reason that holds, one per line: REASON IP SINCE (seconds since the epoch).
  for f in "$state"/drained/* "$state"/unhealthy/*; do
    [ -e "$f" ] && echo "$(basename "$(dirname "$f")") $(basename "$f") $(cat "$f")"
  done
  exit 0
fi
ip=${2:?$usage}
case "$ip" in *[!0-9.]*|"") echo "$usage" >&2; exit 2 ;; esac
if [ "$1" = hold ]; then
  # Drained for as long as the caller (a push, over ssh) keeps stdin open, SECONDS at most: a push that
  # dies or loses its connection never leaves the server out of rotation.
  limit=${3:?$usage}
  case "$limit" in *[!0-9]*|"") echo "$usage" >&2; exit 2 ;; esac
  trap '' HUP PIPE
  { "$0" drain "$ip" && echo drained && timeout "$limit" head -n 1 >/dev/null; } || true
  exec "$0" restore "$ip" >/dev/null 2>&1
fi
mkdir -p "$state/drained" "$state/unhealthy"
exec 9>"$state/.lock"
flock 9
case "$1" in
  drain) [ -e "$state/drained/$ip" ] || date +%s > "$state/drained/$ip" ;;
  restore) rm -f "$state/drained/$ip" ;;
  down) [ -e "$state/unhealthy/$ip" ] || date +%s > "$state/unhealthy/$ip" ;;
  up) rm -f "$state/unhealthy/$ip" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
# Every server line as `up` wrote it, marked down when either reason holds.
awk -v state="$state" '
  function held(file,    line, found) { found = (getline line < file) > 0; close(file); return found }
  /^[ \t]*server [0-9.]+:8000/ {
    sub(/ down;/, ";")
    split($2, address, ":")
    if (held(state "/drained/" address[1]) || held(state "/unhealthy/" address[1]))
      sub(/;$/, " down;")
  }
  { print }
' "$conf" > "$conf.new"
if cmp -s "$conf.new" "$conf"; then
  rm -f "$conf.new"
  exit 0
fi
mv "$conf.new" "$conf"
nginx -t -q
nginx -s reload
SH
chmod 0755 /usr/local/sbin/contrail-upstream
install -m 0755 /tmp/contrail-files/contrail_healthd.py /usr/local/sbin/contrail-healthd
