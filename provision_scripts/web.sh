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
# (other places only for the host's unit tests: sudo resets the environment)
state=${CONTRAIL_UPSTREAM_STATE:-/run/contrail-upstream}
nginx_dir=${CONTRAIL_NGINX_DIR:-/etc/nginx}
conf=$nginx_dir/contrail-upstream.conf
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
# Every server line as `up` wrote it, marked down when one of REASONS holds for its address; 0 when the
# file changed. The upstream every request is balanced over: either reason. The session routes (Tomcat
# app servers: a session's requests go to the server that made it) only when its health checks fail:
# a drained server still serves the sessions it has (a push's canary, with the old version beside the new).
mark() {
  [ -e "$1" ] || return 1
  awk -v state="$state" -v reasons="$2" '
    function held(file,    line, found) { found = (getline line < file) > 0; close(file); return found }
    /^[ \t]*server [0-9.]+:8000/ {
      sub(/ down;/, ";")
      split($2, address, ":")
      n = split(reasons, reason, " ")
      for (i = 1; i <= n; i++)
        if (held(state "/" reason[i] "/" address[1])) { sub(/;$/, " down;"); break }
    }
    { print }
  ' "$1" > "$1.new"
  if cmp -s "$1.new" "$1"; then
    rm -f "$1.new"
    return 1
  fi
  mv "$1.new" "$1"
}
changed=0
mark "$conf" "drained unhealthy" && changed=1
mark "$nginx_dir/contrail-routes.conf" "unhealthy" && changed=1
[ "$changed" = 1 ] || exit 0
nginx -t -q
nginx -s reload
SH
chmod 0755 /usr/local/sbin/contrail-upstream
install -m 0755 /tmp/contrail-files/contrail_healthd.py /usr/local/sbin/contrail-healthd
