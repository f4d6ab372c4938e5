#!/bin/bash
# ci: the team's master.cfg, the worker (its generated password) and the key that reads the team's
# repositories (gitolite user "ci"), then Buildbot (re)started. Run on every `up`.
set -euo pipefail
: "${WORKER_PASSWORD:?}" "${ADMIN_PASSWORD:?}" "${HOOK_PASSWORD:?}"
home=/var/lib/buildbot
install -o buildbot -g buildbot -m 0600 /tmp/contrail-ci-key "$home/.ssh/id_ed25519"
install -o buildbot -g buildbot -m 0640 /tmp/contrail-master.cfg "$home/master/master.cfg"
rm -f /tmp/contrail-ci-key /tmp/contrail-master.cfg
install -d -o vagrant -g vagrant -m 0755 {{ cookiecutter.team.wheelhouse }}  # filled by `contrail team wheels`
for secret in worker-password admin-password change-hook.passwd; do
  install -o buildbot -g buildbot -m 0600 /dev/null "$home/$secret"
done
printf '%s\n' "$WORKER_PASSWORD" > "$home/worker-password"
printf '%s\n' "$ADMIN_PASSWORD" > "$home/admin-password"  # the web UI's and REST API's login for writes
printf 'hook:%s\n' "$HOOK_PASSWORD" > "$home/change-hook.passwd"  # the scm's announcements
# Nothing of buildbot's (keys, the staging ssh config, passwords) is readable by the tests' user.
chmod 0700 "$home"
if [ ! -f "$home/worker/buildbot.tac" ]; then
  su buildbot -s /bin/sh -c "buildbot-worker create-worker -q $home/worker 127.0.0.1:9989 local \"\$(cat $home/worker-password)\""
else
  su buildbot -s /bin/sh -c "sed -i \"s/^passwd = .*/passwd = '\$(cat $home/worker-password)'/\" $home/worker/buildbot.tac"
fi
su buildbot -s /bin/sh -c "buildbot checkconfig $home/master" >/dev/null
supervisorctl restart buildbot-master >/dev/null
supervisorctl restart buildbot-worker >/dev/null 2>&1 || supervisorctl start buildbot-worker >/dev/null
connected='import json, sys; sys.exit(0 if any(w["connected_to"] for w in json.load(sys.stdin)["workers"]) else 1)'
for _ in $(seq 150); do
  curl -fsS http://127.0.0.1:8010/api/v2/workers 2>/dev/null | python3 -c "$connected" && exit 0
  sleep 0.2
done
echo "the Buildbot worker did not connect to its master" >&2
exit 1
