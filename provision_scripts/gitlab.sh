#!/bin/bash
# gitlab: GitLab CE Omnibus from GITLAB_REPOSITORY (the var file), its services under runit, which
# supervisor runs. `contrail team up` would set its external URL; the box ships GitLab unconfigured.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
: "${GITLAB_REPOSITORY:?set GITLAB_REPOSITORY in the role var file}"
apt-get install -y -q gnupg
if ! curl -fsS --max-time 20 -o /tmp/gitlab.key "$GITLAB_REPOSITORY/gpgkey"; then
  echo "GitLab's package repository ($GITLAB_REPOSITORY) is unreachable from this machine: the gitlab box cannot be built here (use the scm box: gitolite3 + cgit)" >&2
  exit 69  # EX_UNAVAILABLE: Contrail reports that this box cannot be built on this machine
fi
gpg --dearmor < /tmp/gitlab.key > /usr/share/keyrings/gitlab.gpg
echo "deb [signed-by=/usr/share/keyrings/gitlab.gpg] $GITLAB_REPOSITORY/debian bookworm main" > /etc/apt/sources.list.d/gitlab.list
apt-get update -q
EXTERNAL_URL="http://localhost" apt-get install -y -q gitlab-ce
cat > /etc/supervisor/conf.d/gitlab.conf <<'CONF'
[program:gitlab-runsvdir]
command=/opt/gitlab/embedded/bin/runsvdir-start
autorestart=true
stdout_logfile=/var/log/supervisor/gitlab.log
redirect_stderr=true
CONF
