#!/bin/bash
# tomcat: a Tomcat app server's settings (its node name, which is its jvmRoute, and its heap), the JNDI
# DataSource jdbc/app every webapp can look up, and the manager user pushes deploy through.
# Rendered by `contrail startdev`; run by `vagrant up` on every up (configuration only).
set -euo pipefail
: "${CONTRAIL_NODE:?}" "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}" "${MANAGER_PASSWORD:?}"

install -d -m 0755 /etc/contrail
# What every app server shares (a docker volume here), for an app pointed at it.
install -d -o tomcat -g tomcat -m 2775 /srv/shared
umask 027
# (the app's environment too, as on Gunicorn app servers: Tomcat's start script exports it to the JVM)
cat > /etc/contrail/app.env.new <<ENV
CONTRAIL_NODE=${CONTRAIL_NODE}
CATALINA_OPTS="-Xms{{ cookiecutter.contrail.heap }} -Xmx{{ cookiecutter.contrail.heap }}"
{%- if cookiecutter.contrail.cache_nodes|int %}
CACHE_URL=${CACHE_URL}
{%- if cookiecutter.contrail.cache_engine == "redis" %}
REDIS_URL=${CACHE_URL}
{%- endif %}
{%- endif %}
ENV
# Every webapp's defaults (Tomcat's conf/context.xml): the database as jdbc/app, with the engine's JDBC
# driver from the box. Readable by Tomcat only: it holds the database password. (The values are the
# environment's own: addresses, identifiers checked by contrail.toml's loader, a URL-safe secret.)
cat > /etc/tomcat10/context.xml.new <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by \`contrail up\` (devenv/configure/tomcat.sh) on every up: edits here are replaced. -->
<Context>
    <WatchedResource>WEB-INF/web.xml</WatchedResource>
    <WatchedResource>WEB-INF/tomcat-web.xml</WatchedResource>
    <WatchedResource>\${catalina.base}/conf/web.xml</WatchedResource>
    <!-- A webapp's own jars are scanned for TLDs and fragments, not Tomcat's class path (see the box). -->
    <JarScanner scanClassPath="false"/>
{%- if cookiecutter.contrail.db_engine == "postgresql" %}
    <Resource name="jdbc/app" auth="Container" type="javax.sql.DataSource"
              driverClassName="org.postgresql.Driver" url="jdbc:postgresql://${DB_HOST}:${DB_PORT}/${DB_NAME}"
{%- else %}
    <Resource name="jdbc/app" auth="Container" type="javax.sql.DataSource"
              driverClassName="org.mariadb.jdbc.Driver" url="jdbc:mariadb://${DB_HOST}:${DB_PORT}/${DB_NAME}"
{%- endif %}
              username="${DB_USER}" password="${DB_PASSWORD}"
              maxTotal="10" maxIdle="2" maxWaitMillis="5000" validationQuery="SELECT 1" testOnBorrow="true"/>
</Context>
XML
# The manager's one user: pushes deploy and list versions through its text interface (from this
# server only, see the box); contrail-switch reads the same credentials from manager.secret.
cat > /etc/tomcat10/tomcat-users.xml.new <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by \`contrail up\` (devenv/configure/tomcat.sh) on every up: edits here are replaced. -->
<tomcat-users xmlns="http://tomcat.apache.org/xml" version="1.0">
    <role rolename="manager-script"/>
    <user username="contrail-deploy" password="${MANAGER_PASSWORD}" roles="manager-script"/>
</tomcat-users>
XML
printf 'contrail-deploy:%s\n' "$MANAGER_PASSWORD" > /etc/contrail/manager.secret
chgrp vagrant /etc/contrail/manager.secret
chgrp tomcat /etc/contrail/app.env.new /etc/tomcat10/context.xml.new /etc/tomcat10/tomcat-users.xml.new
umask 022
# (supervisor's program `app` is the box's: Tomcat reads all it needs from the files above)

changed=0
for file in /etc/contrail/app.env /etc/tomcat10/context.xml /etc/tomcat10/tomcat-users.xml; do
  cmp -s "$file.new" "$file" || changed=1
  mv "$file.new" "$file"
done

# (app.sh and tomcat.sh carry this block alike: the team's staging topology runs them without common.sh)
# An app server with no release yet (new, or recreated) while another app server serves one stays out
# of rotation: its app is not started, so Nginx finds nothing listening and sends its requests to the
# others; `contrail up` then gives it the live release and starts it. True when this server waits.
waits_for_release() {
  [ "$(readlink /srv/app/current)" = /srv/app/releases/placeholder ] || return 1
  local name ip release
  while read -r name ip; do
    [ "$name" = "$CONTRAIL_NODE" ] && continue
    release=$(curl -fs --max-time 1 "http://$ip:8000/_contrail/health" | sed -n 's/.*"release": *"\([^"]*\)".*/\1/p')
    if [ -n "$release" ] && [ "$release" != placeholder ] && [ "$release" != none ]; then
      supervisorctl stop app >/dev/null 2>&1 || true
      echo "$CONTRAIL_NODE waits for the live release ($name serves one): \`contrail up\` delivers it"
      return 0
    fi
  done <<'NODES'
{%- for node in cookiecutter.contrail.app_node_list %}
{{ node.name }} {{ node.ip }}
{%- endfor %}
NODES
  return 1
}

# Until the app server's health endpoint answers (SECONDS at most), naming what runs it otherwise.
answers_health() {
  for _ in $(seq $(($1 * 5))); do
    curl -fs -o /dev/null http://127.0.0.1:8000/_contrail/health && return 0
    sleep 0.2
  done
  echo "$2 did not answer on :8000 (see /var/log/supervisor/app.log)" >&2
  return 1
}

waits_for_release && exit 0

# `update` rereads the configuration, starts a program it adds and restarts one whose program changed:
# then the app runs with this app.env already (a first up), and a restart would cost seconds more.
updated=$(supervisorctl update)
if [ "$changed" = 1 ] && [[ "$updated" != *"app: "* ]] && supervisorctl status app | grep -q RUNNING; then
  supervisorctl restart app >/dev/null
fi
answers_health 60 Tomcat  # (the JVM takes seconds to start and deploy what it has)
