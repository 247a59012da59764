#!/bin/bash
# API service (test): the API answers directly on port 8080 with test settings and fixtures.
#
# Runs once as root inside the freshly installed system, after base's post-install.sh.
#
# What a real team fills in here:
#   - the runtime (add its packages to preseed.cfg's pkgsel/include) and which build to test,
#     fetched from your artifact store into /srv/api/current;
#   - the test database: a local one seeded from /srv/api/fixtures, or the address of a shared
#     test instance, written into /etc/api/api.env with credentials from your secret store;
#   - stand-ins for the external services the API calls (payment, mail), so tests never reach
#     production systems;
#   - which testers and CI runners may reach port 8080.
# The body below is the working minimum: a placeholder service answering GET /health on port
# 8080 with API_ENV=test, no proxy in front, so tests talk to the API itself.
set -euo pipefail

id api >/dev/null 2>&1 || useradd --system --home-dir /srv/api --shell /usr/sbin/nologin api
install -d -m 0755 /srv/api/current /srv/api/fixtures
echo ok > /srv/api/current/health
install -d -m 0750 -g api /etc/api
cat > /etc/api/api.env <<'ENV'
API_ENV=test
LOG_LEVEL=debug
API_FIXTURES=/srv/api/fixtures
ENV
chgrp api /etc/api/api.env
chmod 0640 /etc/api/api.env

cat > /etc/systemd/system/api.service <<'UNIT'
[Unit]
Description=API service (test)
After=network-online.target
Wants=network-online.target

[Service]
User=api
Group=api
EnvironmentFile=/etc/api/api.env
# Placeholder: replace with the API's own start command, reading API_ENV and LOG_LEVEL.
ExecStart=/usr/bin/python3 -m http.server 8080 --directory /srv/api/current
Restart=on-failure
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable api.service
