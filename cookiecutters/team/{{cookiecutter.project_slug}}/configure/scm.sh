#!/bin/bash
# scm: the team's key becomes gitolite's admin (replacing the box's throwaway key). Run on every `up`;
# `contrail team up` then pushes the repositories and users of contrail-team.toml to gitolite-admin.
set -euo pipefail
: "${ADMIN_KEY:?}"
install -m 0644 /dev/null /tmp/admin.pub
printf '%s\n' "$ADMIN_KEY" > /tmp/admin.pub
su gitolite3 -s /bin/sh -c 'cd && gitolite setup -pk /tmp/admin.pub' >/dev/null
rm -f /tmp/admin.pub
# The web view (www-data, in group gitolite3) reads the repositories and gitolite's list of them.
chmod 0750 /var/lib/gitolite3/repositories
touch /var/lib/gitolite3/projects.list
chown gitolite3:gitolite3 /var/lib/gitolite3/projects.list
chmod 0640 /var/lib/gitolite3/projects.list
