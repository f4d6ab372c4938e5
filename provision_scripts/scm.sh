#!/bin/bash
# scm: gitolite3 owns the repositories (users push as gitolite3@scm with their own keys); cgit shows
# them through Nginx + fcgiwrap. `contrail team up` makes the team's key the gitolite admin and pushes
# the repositories and users from contrail-team.toml; the box itself knows no key.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q gitolite3 git cgit nginx-light fcgiwrap spawn-fcgi

# gitolite is set up by debconf only with an admin key: give it a throwaway one (its private half is
# deleted at once); `contrail team up` replaces it with the team's key (`gitolite setup -pk admin.pub`).
ssh-keygen -q -t ed25519 -N '' -C throwaway -f /tmp/admin
echo "gitolite3 gitolite3/adminkey string /tmp/admin.pub" | debconf-set-selections
dpkg-reconfigure -f noninteractive gitolite3
rm -f /tmp/admin /tmp/admin.pub
# Repositories readable by the web view through the gitolite3 group (gitolite's default umask hides them).
sed -i "s/^\(\s*\)UMASK\s*=>.*/\1UMASK => 0027,/" /var/lib/gitolite3/.gitolite.rc
grep -q "UMASK => 0027" /var/lib/gitolite3/.gitolite.rc
usermod -a -G gitolite3 www-data
su gitolite3 -s /bin/sh -c 'git config --global init.defaultBranch main'

cat > /etc/cgitrc <<'CGIT'
# Only repositories gitolite marks readable by `gitweb` (so gitolite-admin stays hidden).
css=/cgit-css/cgit.css
logo=/cgit-css/cgit.png
root-title=Contrail team repositories
enable-http-clone=0
remove-suffix=1
project-list=/var/lib/gitolite3/projects.list
scan-path=/var/lib/gitolite3/repositories
CGIT
rm -f /etc/nginx/sites-enabled/default
cat > /etc/nginx/conf.d/cgit.conf <<'CFG'
server {
    listen 80 default_server;
    location /cgit-css/ { alias /usr/share/cgit/; }
    location / {
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME /usr/lib/cgit/cgit.cgi;
        fastcgi_param PATH_INFO $uri;
        fastcgi_param QUERY_STRING $args;
        fastcgi_pass unix:/run/fcgiwrap.socket;
    }
}
CFG
cat > /etc/supervisor/conf.d/scm.conf <<'CONF'
[program:nginx]
command=/usr/sbin/nginx -g 'daemon off;'
autorestart=true
stopsignal=QUIT
stdout_logfile=/var/log/supervisor/nginx.log
redirect_stderr=true

[program:fcgiwrap]
command=/bin/sh -c 'rm -f /run/fcgiwrap.socket; exec /usr/bin/spawn-fcgi -n -s /run/fcgiwrap.socket -M 0660 -u www-data -g www-data -U www-data -G www-data -- /usr/sbin/fcgiwrap'
autorestart=true
stdout_logfile=/var/log/supervisor/fcgiwrap.log
redirect_stderr=true
CONF
