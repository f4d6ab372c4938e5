# Jenkins LTS from its vendor repository, for teams whose machines reach it: a variant of ci.
# Plugins: provision_scripts/contrail-files/jenkins/plugins.txt; configuration as code: jenkins.yaml there.
# Where the repository is unreachable, the build stops at once and says so (exit 2): use the ci box.
role             = "jenkins"
description      = "Jenkins LTS (from pkg.jenkins.io) with plugins from a list and configuration as code"
scripts          = ["common.sh", "jenkins.sh", "cleanup.sh"]
environment      = ["JENKINS_REPOSITORY=https://pkg.jenkins.io/debian-stable"]
ports            = [8080]
build_by_default = false
smoke            = "curl -fsS -o /dev/null http://127.0.0.1:8080/login"
