#!/bin/bash
# db: PostgreSQL 15 (default) or MariaDB (DB_ENGINE=mariadb), run by supervisor, listening on the
# private network. `up` sets the app's user and generated password; the box has no app credentials.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
: "${DB_ENGINE:?set DB_ENGINE (postgresql or mariadb) in the role var file}"

setup_postgresql() {
  apt-get install -y -q postgresql postgresql-contrib
  local conf=/etc/postgresql/15/main
  [ -d "$conf" ] || pg_createcluster 15 main
  sed -i "s/^#\?listen_addresses.*/listen_addresses = '*'/" "$conf/postgresql.conf"
  grep -q '^host all all 0.0.0.0/0 scram-sha-256' "$conf/pg_hba.conf" ||
    echo 'host all all 0.0.0.0/0 scram-sha-256' >> "$conf/pg_hba.conf"
  cat > /usr/local/sbin/contrail-postgresql <<'SH'
#!/bin/sh
set -e
mkdir -p /run/postgresql/15-main.pg_stat_tmp
chown -R postgres:postgres /run/postgresql
exec su postgres -s /bin/sh -c 'exec /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf'
SH
  chmod 0755 /usr/local/sbin/contrail-postgresql
  cat > /etc/supervisor/conf.d/postgresql.conf <<'CONF'
[program:postgresql]
command=/usr/local/sbin/contrail-postgresql
autorestart=true
stopsignal=INT
stdout_logfile=/var/log/supervisor/postgresql.log
redirect_stderr=true
CONF
}

setup_mariadb() {
  apt-get install -y -q mariadb-server
  sed -i 's/^bind-address.*/bind-address = 0.0.0.0/' /etc/mysql/mariadb.conf.d/50-server.cnf
  cat > /usr/local/sbin/contrail-mariadb <<'SH'
#!/bin/sh
set -e
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld
exec /usr/sbin/mariadbd --user=mysql
SH
  chmod 0755 /usr/local/sbin/contrail-mariadb
  cat > /etc/supervisor/conf.d/mariadb.conf <<'CONF'
[program:mariadb]
command=/usr/local/sbin/contrail-mariadb
autorestart=true
stdout_logfile=/var/log/supervisor/mariadb.log
redirect_stderr=true
CONF
}

case "$DB_ENGINE" in
  postgresql) setup_postgresql ;;
  mariadb) setup_mariadb ;;
  *) echo "unknown DB_ENGINE '$DB_ENGINE' (postgresql or mariadb)" >&2; exit 2 ;;
esac
echo "$DB_ENGINE" > /etc/contrail-db-engine
