#!/bin/bash
# Web front end (production): nginx serves the built UI from /srv/ui/current on port 80.
#
# Runs once as root inside the freshly installed system, after base's post-install.sh.
#
# What a real team fills in here:
#   - fetching the built UI: a release archive from your artifact store, unpacked into
#     /srv/ui/releases/<version> with /srv/ui/current pointing at it. Credentials for the store
#     (a read-only deploy token) come from your secret store at this point, never from this
#     directory, which the controller serves to installing VMs;
#   - the public server name and TLS (certbot, or certificates from your own CA);
#   - monitoring and log shipping agents, and firewall rules if you run a firewall.
# The body below is the working minimum: a placeholder page served as a single-page application,
# so the VM answers on port 80 from its first boot.
set -euo pipefail

release=/srv/ui/releases/placeholder
install -d -m 0755 "$release"
cat > "$release/index.html" <<'HTML'
<!doctype html>
<title>UI</title>
<p>This VM is ready for the UI: deploy a release into /srv/ui/releases and point /srv/ui/current at it.</p>
HTML
ln -sfn "$release" /srv/ui/current

cat > /etc/nginx/sites-available/ui <<'CONF'
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    root /srv/ui/current;
    index index.html;
    server_tokens off;

    # A single-page application: a path that is no file is one of the app's routes.
    location / {
        try_files $uri $uri/ /index.html;
    }
    # Built assets carry a content hash in their names, so browsers may keep them.
    location /assets/ {
        expires 30d;
        add_header Cache-Control "public, immutable";
    }
}
CONF
rm -f /etc/nginx/sites-enabled/default
ln -sfn /etc/nginx/sites-available/ui /etc/nginx/sites-enabled/ui
nginx -t
systemctl enable nginx
