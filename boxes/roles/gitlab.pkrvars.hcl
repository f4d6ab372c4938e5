# GitLab CE (Omnibus) from its vendor repository, for teams whose machines reach it: a variant of scm.
# Where the repository is unreachable, the build stops at once and says so (exit 2): use the scm box.
role             = "gitlab"
description      = "GitLab CE (Omnibus, from packages.gitlab.com): git hosting, merge requests, CI"
scripts          = ["common.sh", "gitlab.sh", "cleanup.sh"]
environment      = ["GITLAB_REPOSITORY=https://packages.gitlab.com/gitlab/gitlab-ce"]
ports            = [22, 80]
build_by_default = false
smoke            = "gitlab-ctl status >/dev/null && curl -fsS -o /dev/null http://127.0.0.1/users/sign_in"
