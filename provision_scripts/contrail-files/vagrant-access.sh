#!/bin/bash
# Vagrant's way in, on every box (common.sh) and on the VM base (Packer's qemu builder logs in with it):
# the vagrant user with passwordless sudo and Vagrant's public insecure key, and sshd owned by supervisor.
# Idempotent.
set -euo pipefail

id vagrant >/dev/null 2>&1 || useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
printf '%s\n' "${CONTRAIL_VAGRANT_PUBKEY:?the vagrant public key is required}" > /home/vagrant/.ssh/authorized_keys
chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys
chmod 0600 /home/vagrant/.ssh/authorized_keys

cat > /etc/ssh/sshd_config.d/contrail.conf <<'SSHD'
UseDNS no
PasswordAuthentication no
PermitRootLogin no
HostKey /etc/ssh/ssh_host_ed25519_key
SSHD
# The host key is made at first start, so no two machines share it (cleanup.sh removes the build's).
# Ed25519 only: it takes milliseconds, where `ssh-keygen -A`'s RSA key took ~0.7 s of CPU per machine,
# seconds when a whole topology starts at once on two cores (and Vagrant waits for sshd meanwhile).
cat > /usr/local/sbin/contrail-sshd <<'SH'
#!/bin/sh
set -e
key=/etc/ssh/ssh_host_ed25519_key
[ -e "$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$key"
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
SH
chmod 0755 /usr/local/sbin/contrail-sshd

cat > /etc/supervisor/conf.d/sshd.conf <<'CONF'
[program:sshd]
command=/usr/local/sbin/contrail-sshd
autorestart=true
stdout_logfile=/var/log/supervisor/sshd.log
redirect_stderr=true
CONF
