#!/bin/bash
# tomcat: Tomcat 10.1 (Debian's) on the OpenJDK 17 JRE, an app server for Java .war apps; the app box's
# sibling: port 8000, /_contrail/health, /srv/app/releases, the supervisor program `app`.
# A release is a parallel deployment of ROOT, ROOT##<release id>.war, deployed by the push through the
# manager's text interface (/manager/text/deploy?path=/&version=<id>&war=file:/srv/app/releases/<id>/ROOT.war);
# Tomcat sends new sessions to the newest version and undeploys an older one once it holds no session.
# CATALINA_HOME=/usr/share/tomcat10, CATALINA_BASE=/var/lib/tomcat10, conf /etc/tomcat10 (Debian's layout).
#
# What `up` (configure) writes:
# - /etc/contrail/app.env, sourced by /usr/local/sbin/contrail-app: CONTRAIL_NODE=app1, CATALINA_OPTS=-Xmx256m
#   (quoted for sh if it holds spaces), the app's environment. Tomcat must be restarted to see a change.
# - /etc/tomcat10/tomcat-users.xml, the manager's user, written whole (tmp file + mv), root:tomcat 0640:
#     <?xml version="1.0" encoding="UTF-8"?>
#     <tomcat-users xmlns="http://tomcat.apache.org/xml" version="1.0">
#       <role rolename="manager-script"/>
#       <user username="contrail" password="SECRET" roles="manager-script"/>
#     </tomcat-users>
#   The password is compared as written (no CredentialHandler), so it must be XML-safe (hex or urlsafe
#   base64). A running Tomcat rereads the file when it changes, no restart, but only at its next check:
#   ~2-4 s later (log: "Reloading memory user database [UserDatabase] from updated source"); until then the
#   user gets 401, and five failures in a row lock it out for 5 minutes (LockOutRealm; a success resets
#   the count). So write it before Tomcat (re)starts, or wait for that line before using the manager.
# - /etc/supervisor/conf.d/app.conf: may replace the one below.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
files=/tmp/contrail-files/tomcat
base=/var/lib/tomcat10

# The base image leaves man pages out, but openjdk's postinst registers java.1.gz as an alternative's slave
# link and fails when /usr/share/man/man1 is missing.
install -d /usr/share/man/man1
# tomcat10's postinst creates its user and directories with systemd-sysusers and systemd-tmpfiles: the
# standalone tools satisfy that without installing systemd itself (nothing would run it).
apt-get install -y -q systemd-standalone-sysusers systemd-standalone-tmpfiles
# tomcat10-admin: the manager webapp. libeclipse-jdt-core-java (a dependency) compiles JSPs with the JRE.
apt-get install -y -q openjdk-17-jre-headless tomcat10 tomcat10-admin libpostgresql-jdbc-java libmariadb-java curl

# Configuration: root-owned, readable by group tomcat (Debian's convention: Tomcat cannot rewrite its own).
install -o root -g tomcat -m 0640 "$files/server.xml" "$files/context.xml" "$files/logging.properties" \
  "$files/tomcat-users.xml" /etc/tomcat10/
# The manager, loopback only. Debian's descriptor has no address valve, and a descriptor here means the
# webapp's own META-INF/context.xml (which has one) is not read: with Debian's, any address reached it.
install -o root -g tomcat -m 0644 "$files/manager.xml" /etc/tomcat10/Catalina/localhost/manager.xml
rm -f /etc/tomcat10/Catalina/localhost/host-manager.xml  # virtual hosts are not managed here

# CATALINA_BASE/lib, on Tomcat's common class path (catalina.properties' common.loader): the JDBC drivers,
# so a release's DataSource (a Resource in its META-INF/context.xml) finds them, and Contrail's valve.
# Root's: the apps' user does not add code to the server's class path (Debian gives it to tomcat).
ln -sfn /usr/share/java/postgresql.jar "$base/lib/postgresql.jar"
ln -sfn /usr/share/java/mariadb-java-client.jar "$base/lib/mariadb-java-client.jar"
# The valve of `contrail drill slow` (SlowValve.java), compiled by the JDT compiler Tomcat compiles JSPs
# with (the JRE has no javac).
classpath=$(ls /usr/share/tomcat10/lib/*.jar /usr/share/tomcat10/bin/tomcat-juli.jar | paste -sd:)
java -cp /usr/share/java/eclipse-jdt-core.jar org.eclipse.jdt.internal.compiler.batch.Main -17 -proc:none -nowarn \
  -cp "$classpath" -d "$base/lib" "$files/SlowValve.java"
chown -R root:root "$base/lib"
chmod -R u=rwX,go=rX "$base/lib"
install -d -o tomcat -g tomcat -m 0750 "$base/temp"

# webapps: written by Tomcat alone (the manager copies wars in, Tomcat unpacks them and deletes undeployed
# versions). _contrail (the health endpoint) is root's, read-only to Tomcat; the placeholder ROOT replaces
# Debian's and is Tomcat's: it deletes it when it undeploys it as the oldest version of ROOT (the first
# release) -- a placeholder it could not delete would be deployed again at its next check, and undeployed…
rm -rf "$base/webapps/ROOT" "$base/webapps/_contrail"
cp -r "$files/webapps/_contrail" "$files/webapps/ROOT" "$base/webapps/"
chown -R root:root "$base/webapps/_contrail"
chown -R tomcat:tomcat "$base/webapps/ROOT"
chmod -R u=rwX,go=rX "$base/webapps/_contrail" "$base/webapps/ROOT"
chown tomcat:tomcat "$base/webapps"
chmod 0755 "$base/webapps"

# Releases as the app box has them: uploaded by the push (as vagrant) to releases/<id>/ROOT.war, `current`
# pointing at the live one; before the first push, at a placeholder.
install -d -o vagrant -g vagrant /srv/app /srv/app/releases
placeholder=/srv/app/releases/placeholder
install -d -o vagrant -g vagrant "$placeholder"
echo placeholder > "$placeholder/.contrail-release"
chown vagrant:vagrant "$placeholder/.contrail-release"
[ -e /srv/app/current ] || ln -s "$placeholder" /srv/app/current
chown -h vagrant:vagrant /srv/app/current
install -d -o tomcat -g tomcat /srv/app/run  # `contrail drill slow` writes its delay here (sudo)

install -o root -g root -m 0755 "$files/contrail-app" /usr/local/sbin/contrail-app
# A push's steps here, as on the app box: the switch (contrail-switch, which deploys through the manager
# in this box: its role says tomcat; and the drained canary's idle wait and page check) and the lock
# (contrail-push), and the agent that starts both warm for the push (contrail-agent).
bash /tmp/contrail-files/install-push-commands.sh contrail-switch contrail-push contrail-agent
# The program `up` writes again (as the app box's); here so that the box runs Tomcat on its own (smoke check).
cat > /etc/supervisor/conf.d/app.conf <<'CONF'
[program:app]
command=/usr/local/sbin/contrail-app
user=tomcat
autorestart=true
stopsignal=TERM
stopwaitsecs=15
stdout_logfile=/var/log/supervisor/app.log
redirect_stderr=true
CONF

# Start Tomcat once now: Jasper compiles the health and placeholder JSPs into CATALINA_BASE/work and the
# classes ship in the box, so a new machine does not spend ~1 s compiling before its first health answer.
# It also proves the box starts.
setpriv --reuid=tomcat --regid=tomcat --init-groups /usr/local/sbin/contrail-app > /tmp/tomcat-warm.log 2>&1 &
tomcat=$!
warmed=0
for _ in $(seq 240); do
  if curl -fs -o /dev/null http://127.0.0.1:8000/_contrail/health && curl -fs -o /dev/null http://127.0.0.1:8000/; then
    warmed=1
    break
  fi
  sleep 0.25
done
health=$(curl -fsS http://127.0.0.1:8000/_contrail/health || true)
kill -TERM "$tomcat"
wait "$tomcat" || true
if [ "$warmed" != 1 ]; then
  cat /tmp/tomcat-warm.log >&2
  echo "Tomcat did not answer on :8000 at build time" >&2
  exit 1
fi
echo "build-time health: $health"
ls "$base"/work/Catalina/localhost/{_contrail,ROOT}/org/apache/jsp/WEB_002dINF/*_jsp.class
rm -f "$base"/work/Catalina/localhost/*/SESSIONS.ser
