#!/bin/bash
# The push's commands on an app server (contrail-switch, contrail-push; app.sh and tomcat.sh): each
# script's code installed as a module compiled at build time in /usr/local/lib/contrail, and the command
# in /usr/local/bin a stub that imports it. Python never caches the bytecode of a script it runs by
# path, so the script itself as the command would be compiled again on every run, and a push runs these
# several times in a row on its critical path. With contrail-agent among them, supervisor also runs
# it as vagrant: it starts the other commands warm for the push (see the script). Idempotent.
set -euo pipefail
lib=/usr/local/lib/contrail
install -d -o root -g root -m 0755 "$lib"
for command in "$@"; do
  module=${command//-/_}
  install -o root -g root -m 0644 "/tmp/contrail-files/$command" "$lib/$module.py"
  # (-I: the command is run with sudo and by the push's ssh user; no PYTHON* variable or user site applies;
  # -S: standard library only, so no site module and its path scan: ~3 ms of each run's start)
  printf '#!/usr/bin/python3 -IS\nimport sys\n\nsys.path.insert(0, "%s")\nfrom %s import main\n\nsys.exit(main())\n' \
    "$lib" "$module" > "/usr/local/bin/$command"
  chown root:root "/usr/local/bin/$command"
  chmod 0755 "/usr/local/bin/$command"
done
python3 -m compileall -q "$lib"
if [[ " $* " == *" contrail-agent "* ]]; then
  cat > /etc/supervisor/conf.d/contrail-agent.conf <<'CONF'
[program:contrail-agent]
command=/usr/local/bin/contrail-agent
user=vagrant
directory=/srv/app
environment=HOME="/home/vagrant",USER="vagrant",LOGNAME="vagrant",PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
autorestart=true
stopsignal=TERM
stdout_logfile=/var/log/supervisor/contrail-agent.log
redirect_stderr=true
CONF
fi
