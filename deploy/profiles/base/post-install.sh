#!/bin/bash
# Minimal hardened Debian: SSH by key only, no root login, automatic security updates.
#
# Runs once as root inside the freshly installed system (the installer's in-target), after
# virtfleet has created the operators' user with their SSH keys and before the VM's own
# profile's script: every profile builds on base. Safe to run again.
set -euo pipefail

# SSH by key only. The operators' user has no password at all, so a password prompt could only
# ever serve an attacker; root never logs in over SSH (operators use sudo).
install -d -m 0755 /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/50-virtfleet-hardening.conf <<'CONF'
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
X11Forwarding no
MaxAuthTries 3
LoginGraceTime 30
CONF
# A configuration sshd refuses must fail the install now, not lock everyone out at first boot.
# sshd -t wants its privilege separation directory, which only exists on a running system.
install -d -m 0755 /run/sshd
sshd -t

# Root keeps no usable password: no console login as root either.
passwd --lock root >/dev/null

# Security updates every day. The installer installs unattended-upgrades (pkgsel/update-policy);
# installing it here as well keeps a profile that changed that answer from losing the updates.
apt-get install -y --no-install-recommends unattended-upgrades
cat > /etc/apt/apt.conf.d/20auto-upgrades <<'CONF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
CONF

# A VM on a public network (failover IP) must not let others rewrite its routes, and kernel
# addresses are of use to an attacker only.
cat > /etc/sysctl.d/60-virtfleet-hardening.conf <<'CONF'
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
CONF
