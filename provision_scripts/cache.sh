#!/bin/bash
# cache: Redis 7 (default) or Memcached (CACHE_ENGINE=memcached), run by supervisor on the private
# network: the shared cache every app server reaches (CACHE_URL). A cache keeps nothing on disk.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
: "${CACHE_ENGINE:?set CACHE_ENGINE (redis or memcached) in the role var file}"

setup_redis() {
  apt-get install -y -q redis-server
  install -d -o redis -g redis -m 0750 /etc/redis
  cat > /etc/redis/contrail.conf <<'CONF'
bind 0.0.0.0
port 6379
daemonize no
supervised no
save ""
appendonly no
maxmemory 128mb
maxmemory-policy allkeys-lru
logfile ""
include /etc/redis/contrail-auth.conf
CONF
  # Never open: until `up` writes the environment's own password, one nobody knows.
  umask 077
  echo "requirepass $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > /etc/redis/contrail-auth.conf
  chown redis:redis /etc/redis/contrail-auth.conf
  umask 022
  cat > /etc/supervisor/conf.d/redis.conf <<'CONF'
[program:redis]
command=/usr/bin/redis-server /etc/redis/contrail.conf
user=redis
autorestart=true
stdout_logfile=/var/log/supervisor/redis.log
redirect_stderr=true
CONF
}

setup_memcached() {
  apt-get install -y -q memcached
  cat > /etc/supervisor/conf.d/memcached.conf <<'CONF'
[program:memcached]
command=/usr/bin/memcached -u memcache -l 0.0.0.0 -p 11211 -U 0 -m 128 -v
autorestart=true
stdout_logfile=/var/log/supervisor/memcached.log
redirect_stderr=true
CONF
}

case "$CACHE_ENGINE" in
  redis) setup_redis ;;
  memcached) setup_memcached ;;
  *) echo "unknown CACHE_ENGINE '$CACHE_ENGINE' (redis or memcached)" >&2; exit 2 ;;
esac
echo "$CACHE_ENGINE" > /etc/contrail-cache-engine
