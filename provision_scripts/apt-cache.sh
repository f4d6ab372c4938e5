#!/bin/bash
# apt-cache: apt-cacher-ng on 3142, in the foreground under supervisor; the cache lives in
# /var/cache/apt-cacher-ng (mount a volume there to keep it across containers).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
echo "apt-cacher-ng apt-cacher-ng/tunnelenable boolean false" | debconf-set-selections
apt-get install -y -q apt-cacher-ng

cat > /usr/local/sbin/contrail-apt-cacher-ng <<'SH'
#!/bin/sh
set -e
mkdir -p /run/apt-cacher-ng
chown apt-cacher-ng:apt-cacher-ng /run/apt-cacher-ng /var/cache/apt-cacher-ng
exec su apt-cacher-ng -s /bin/sh -c 'exec /usr/sbin/apt-cacher-ng -c /etc/apt-cacher-ng ForeGround=1'
SH
chmod 0755 /usr/local/sbin/contrail-apt-cacher-ng
cat > /etc/supervisor/conf.d/apt-cacher-ng.conf <<'CONF'
[program:apt-cacher-ng]
command=/usr/local/sbin/contrail-apt-cacher-ng
autorestart=true
stdout_logfile=/var/log/supervisor/apt-cacher-ng.log
redirect_stderr=true
CONF
