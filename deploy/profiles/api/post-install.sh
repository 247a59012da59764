#!/bin/bash
# API service (production): the API runs as user api under systemd, behind nginx on port 80.
#
# Runs once as root inside the freshly installed system, after base's post-install.sh.
#
# What a real team fills in here:
#   - the runtime (a JRE, Node.js...: add its packages to preseed.cfg's pkgsel/include) and the
#     release itself, fetched from your artifact store into /srv/api/releases/<version>;
#   - its configuration and secrets (database address and credentials, API keys) from your
#     secret store into /etc/api/api.env (mode 0640, group api), never from this directory,
#     which the controller serves to installing VMs;
#   - database migrations if the release needs them before its first start;
#   - the public server name and TLS, monitoring, log shipping, firewall rules.
# The body below is the working minimum: a placeholder service that answers GET /health on
# 127.0.0.1:8080, run and sandboxed by systemd and published by nginx, so the VM serves from
# its first boot.
set -euo pipefail

id api >/dev/null 2>&1 || useradd --system --home-dir /srv/api --shell /usr/sbin/nologin api
release=/srv/api/releases/placeholder
install -d -m 0755 "$release"
echo ok > "$release/health"
ln -sfn "$release" /srv/api/current
install -d -m 0750 -g api /etc/api
[ -e /etc/api/api.env ] || install -m 0640 -g api /dev/null /etc/api/api.env

cat > /etc/systemd/system/api.service <<'UNIT'
[Unit]
Description=API service
After=network-online.target
Wants=network-online.target

[Service]
User=api
Group=api
EnvironmentFile=/etc/api/api.env
# Placeholder: replace with the API's own start command.
ExecStart=/usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 --directory /srv/api/current
Restart=on-failure
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable api.service

cat > /etc/nginx/sites-available/api <<'CONF'
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_tokens off;
    client_max_body_size 10m;

    location / {
        proxy_pass http://127.0.0.1:8080;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
CONF
rm -f /etc/nginx/sites-enabled/default
ln -sfn /etc/nginx/sites-available/api /etc/nginx/sites-enabled/api
nginx -t
systemctl enable nginx
