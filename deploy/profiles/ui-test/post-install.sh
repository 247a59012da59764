#!/bin/bash
# Web front end (test): nginx serves any UI build from /srv/ui/current, uncached and unindexed.
#
# Runs once as root inside the freshly installed system, after base's post-install.sh.
#
# What a real team fills in here:
#   - which build to deploy (a branch's latest artifact, or one chosen per VM) and where the
#     test UI finds its back end (an api-test VM's address, written into the UI's config.json);
#   - access control for testers (an allow-list of office addresses, or basic auth whose
#     password file comes from your secret store, never from this directory);
#   - anything QA needs on the box: browsers for end-to-end runs, screenshot tooling.
# The body below is the working minimum: a placeholder build served without caching, marked
# so that search engines never index a test site.
set -euo pipefail

build=/srv/ui/builds/placeholder
install -d -m 0755 "$build"
cat > "$build/index.html" <<'HTML'
<!doctype html>
<title>UI (test)</title>
<p>Test front end: copy a build into /srv/ui/builds and point /srv/ui/current at it.</p>
HTML
cat > "$build/config.json" <<'JSON'
{"environment": "test", "apiBaseUrl": "http://api-test.invalid"}
JSON
ln -sfn "$build" /srv/ui/current

cat > /etc/nginx/sites-available/ui-test <<'CONF'
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    root /srv/ui/current;
    index index.html;

    # Testers must always see the build just deployed, and a test site must never be indexed.
    add_header Cache-Control "no-store" always;
    add_header X-Robots-Tag "noindex, nofollow" always;

    location / {
        try_files $uri $uri/ /index.html;
    }
}
CONF
rm -f /etc/nginx/sites-enabled/default
ln -sfn /etc/nginx/sites-available/ui-test /etc/nginx/sites-enabled/ui-test
nginx -t
systemctl enable nginx
