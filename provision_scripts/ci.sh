#!/bin/bash
# ci: a Buildbot master and a worker under supervisor, as the buildbot user. The box ships a master
# with no builders; `contrail team up` puts the team's master.cfg, the worker's password and the key
# that reads the team's repositories in place, and (re)starts both.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q buildbot buildbot-worker python3-pip git openssh-client python3-venv
pip3 install -q --break-system-packages --no-index --no-deps /tmp/contrail-wheels/*.whl
python3 -c 'import buildbot_www'

home=/var/lib/buildbot
install -d -o buildbot -g buildbot -m 0700 "$home"
install -d -o buildbot -g buildbot -m 0750 "$home/master" "$home/.ssh"
# Builds run the pushed code (its tests and its dependencies' installs) as ci-test, a user with nothing:
# it cannot read buildbot's home (the key staging accepts, the staging ssh config, the passwords).
# Only the deploy step of a green build of the deploy branch runs as buildbot.
id ci-test >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ci-test --shell /bin/sh ci-test
chmod 0700 /var/lib/ci-test
echo 'buildbot ALL=(ci-test) NOPASSWD: ALL' > /etc/sudoers.d/contrail-ci
chmod 0440 /etc/sudoers.d/contrail-ci
visudo -cqf /etc/sudoers.d/contrail-ci
su buildbot -s /bin/sh -c "buildbot create-master -r $home/master >/dev/null"
cat > "$home/master/master.cfg" <<'CFG'
# Placeholder until `contrail team up` writes the team's configuration (Buildbot wants one builder).
import secrets
from buildbot.plugins import schedulers, util, worker
c = BuildmasterConfig = {}
c["buildbotNetUsageData"] = None
c["title"] = "Contrail CI"
c["workers"] = [worker.Worker("local", secrets.token_urlsafe(18))]
c["protocols"] = {"pb": {"port": "tcp:9989:interface=127.0.0.1"}}
c["builders"] = [util.BuilderConfig(name="not-configured", workernames=["local"], factory=util.BuildFactory())]
c["schedulers"] = [schedulers.ForceScheduler(name="force", builderNames=["not-configured"])]
c["www"] = {"port": 8010, "plugins": {}}
c["db"] = {"db_url": "sqlite:///state.sqlite"}
CFG
chown buildbot:buildbot "$home/master/master.cfg"
su buildbot -s /bin/sh -c "buildbot checkconfig $home/master"

# Both read the team's repositories with the ci key (the master for change detection, the worker to build).
ssh="ssh -i $home/.ssh/id_ed25519 -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
environment="HOME=\"$home\",GIT_SSH_COMMAND=\"$ssh\""
cat > /etc/supervisor/conf.d/buildbot.conf <<CONF
[program:buildbot-master]
command=/usr/bin/buildbot start --nodaemon $home/master
directory=$home/master
user=buildbot
environment=$environment
autorestart=true
stopsignal=INT
stdout_logfile=/var/log/supervisor/buildbot-master.log
redirect_stderr=true

[program:buildbot-worker]
command=/usr/bin/buildbot-worker start --nodaemon $home/worker
directory=$home
user=buildbot
environment=$environment
autostart=false
autorestart=true
stdout_logfile=/var/log/supervisor/buildbot-worker.log
redirect_stderr=true
CONF
