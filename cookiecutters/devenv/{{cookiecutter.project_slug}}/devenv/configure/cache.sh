#!/bin/bash
{%- if cookiecutter.contrail.cache_engine == "redis" %}
# cache: Redis with this environment's own password (generated, in .contrail/secrets.toml).
{%- else %}
# cache: Memcached (no password: the protocol the app servers use has none; it listens only on the
# environment's private network).
{%- endif %}
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail
{%- if cookiecutter.contrail.cache_engine == "redis" %}
: "${CACHE_PASSWORD:?}"
umask 077
printf 'requirepass %s\n' "$CACHE_PASSWORD" > /etc/redis/contrail-auth.conf.new
chown redis:redis /etc/redis/contrail-auth.conf.new
if cmp -s /etc/redis/contrail-auth.conf.new /etc/redis/contrail-auth.conf; then
  rm /etc/redis/contrail-auth.conf.new
else
  old=$(sed -n 's/^requirepass //p' /etc/redis/contrail-auth.conf)
  mv /etc/redis/contrail-auth.conf.new /etc/redis/contrail-auth.conf
  # The running server takes the new password at once (the file is for its next start); a restart, only
  # if it cannot (not running yet): it costs supervisor's second of "started".
  set_password=$(printf 'CONFIG SET requirepass %s\n' "$CACHE_PASSWORD" | REDISCLI_AUTH="$old" redis-cli -h 127.0.0.1 2>/dev/null || true)
  [ "$set_password" = OK ] || supervisorctl restart redis >/dev/null
fi
for _ in $(seq 100); do
  REDISCLI_AUTH="$CACHE_PASSWORD" redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -qx PONG && exit 0
  sleep 0.1
done
echo "redis does not answer on :6379 (see /var/log/supervisor/redis.log)" >&2
{%- else %}
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/11211) 2>/dev/null && exit 0
  sleep 0.1
done
echo "memcached does not answer on :11211 (see /var/log/supervisor/memcached.log)" >&2
{%- endif %}
exit 1
