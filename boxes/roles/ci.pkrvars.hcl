# Continuous integration for the team: Buildbot master (REST API and web UI on :8010) and one worker.
# `contrail team up` renders its master.cfg from contrail-team.toml (repositories, test command).
role             = "ci"
description      = "Buildbot 3.7 master (REST API and web UI on :8010) and a local worker"
scripts          = ["common.sh", "ci.sh", "cleanup.sh"]
ports            = [8010]
build_by_default = false
# Debian has no buildbot-www (the master refuses its REST API without it): the host downloads the wheel.
wheels           = ["buildbot-www==3.7.0"]
smoke            = "curl -fsS http://127.0.0.1:8010/api/v2/builders | grep -q '\"builders\"'"
