#!/bin/bash
# jenkins: Jenkins LTS from JENKINS_REPOSITORY (the var file), the plugins of plugins.txt (installed by
# Jenkins' own plugin manager), configuration as code from jenkins.yaml; run by supervisor.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
: "${JENKINS_REPOSITORY:?set JENKINS_REPOSITORY in the role var file}"
files=/tmp/contrail-files/jenkins
if ! curl -fsS --max-time 20 -o /usr/share/keyrings/jenkins.asc "$JENKINS_REPOSITORY/jenkins.io-2023.key"; then
  echo "Jenkins' package repository ($JENKINS_REPOSITORY) is unreachable from this machine: the jenkins box cannot be built here (use the ci box: Buildbot)" >&2
  exit 69  # EX_UNAVAILABLE: Contrail reports that this box cannot be built on this machine
fi
echo "deb [signed-by=/usr/share/keyrings/jenkins.asc] $JENKINS_REPOSITORY binary/" > /etc/apt/sources.list.d/jenkins.list
apt-get update -q
apt-get install -y -q openjdk-17-jre-headless jenkins git
install -d -o jenkins -g jenkins /var/lib/jenkins/casc /var/lib/jenkins/plugins
install -o jenkins -g jenkins -m 0644 "$files/jenkins.yaml" /var/lib/jenkins/casc/jenkins.yaml
manager=https://github.com/jenkinsci/plugin-installation-manager-tool/releases/download/2.13.2/jenkins-plugin-manager-2.13.2.jar
curl -fsSL --max-time 120 -o /tmp/plugin-manager.jar "$manager"
java -jar /tmp/plugin-manager.jar --war /usr/share/java/jenkins.war --plugin-download-directory /var/lib/jenkins/plugins \
  --plugin-file "$files/plugins.txt"
chown -R jenkins:jenkins /var/lib/jenkins/plugins
rm -f /tmp/plugin-manager.jar
cat > /etc/supervisor/conf.d/jenkins.conf <<'CONF'
[program:jenkins]
command=/usr/bin/java -Djava.awt.headless=true -Djenkins.install.runSetupWizard=false -jar /usr/share/java/jenkins.war --httpPort=8080
user=jenkins
environment=JENKINS_HOME="/var/lib/jenkins",CASC_JENKINS_CONFIG="/var/lib/jenkins/casc/jenkins.yaml"
autorestart=true
stdout_logfile=/var/log/supervisor/jenkins.log
redirect_stderr=true
CONF
