#!/bin/bash
# scm: the team's key becomes gitolite's admin (replacing the box's throwaway key). Run on every `up`;
# `contrail team up` then pushes the repositories and users of contrail-team.toml to gitolite-admin.
set -euo pipefail
: "${ADMIN_KEY:?}"
install -m 0644 /dev/null /tmp/admin.pub
printf '%s\n' "$ADMIN_KEY" > /tmp/admin.pub
# Every push is announced to the team's CI (Buildbot's change hook), when the team has one.
hooks=/var/lib/gitolite3/.gitolite/hooks/common
install -d -o gitolite3 -g gitolite3 "$hooks"
if [ -n "${CI_URL:-}" ]; then
  : "${CI_HOOK_PASSWORD:?}"
  # CI accepts announcements only with this password: kept in a curl config only gitolite3 reads (a
  # command-line option would show it to every `ps` on this machine).
  install -o gitolite3 -g gitolite3 -m 0600 /dev/null /var/lib/gitolite3/.contrail-ci-hook
  printf 'user = "hook:%s"\n' "$CI_HOOK_PASSWORD" > /var/lib/gitolite3/.contrail-ci-hook
  cat > "$hooks/post-receive" <<HOOK
#!/bin/sh
# Written by contrail team up: tell CI about each pushed branch.
while read -r old new ref; do
  case "\$ref" in refs/heads/*) ;; *) continue ;; esac
  [ "\$new" = 0000000000000000000000000000000000000000 ] && continue
  curl -fsS -m 5 -o /dev/null -K "\$HOME/.contrail-ci-hook" "${CI_URL}/change_hook/base" \\
    --data-urlencode "project=\$GL_REPO" --data-urlencode "repository=gitolite3@${SCM_ADDRESS}:\$GL_REPO" \\
    --data-urlencode "revision=\$new" --data-urlencode "branch=\${ref#refs/heads/}" \\
    --data-urlencode "author=\$GL_USER" --data-urlencode "comments=pushed by \$GL_USER" ||
    echo "contrail: CI at ${CI_URL} was not told about \$ref" >&2
done
HOOK
  chown gitolite3:gitolite3 "$hooks/post-receive"
  chmod 0755 "$hooks/post-receive"
else
  rm -f "$hooks/post-receive"
fi
su gitolite3 -s /bin/sh -c 'cd && gitolite setup -pk /tmp/admin.pub' >/dev/null
rm -f /tmp/admin.pub
# The web view (www-data, in group gitolite3) reads the repositories and gitolite's list of them.
chmod 0750 /var/lib/gitolite3/repositories
touch /var/lib/gitolite3/projects.list
chown gitolite3:gitolite3 /var/lib/gitolite3/projects.list
chmod 0640 /var/lib/gitolite3/projects.list
