#!/usr/bin/env bash
# A caching package proxy for the end-to-end scripts: apt-cacher-ng (Debian's package) on port PORT (default 3144:
# the package's own service, where one runs, keeps its 3142), started without systemd, with a configuration of its
# own under $STATE (default /var/cache/virtfleet-e2e/apt-proxy); nothing in /etc is changed. debootstrap, apt in a
# chroot and installers in test VMs fetch Debian's packages through it, and what it fetched once is served from its
# cache on the next run.
#
# Why not the package's own configuration: it needs a service manager to start (none runs here), and its Debian
# backend (ftp.debian.org) is not the mirror this machine reaches. Here the backends are the mirrors this machine's
# own apt sources use, for the archive (.../debian) and for security updates (.../debian-security); requests for any
# well-known Debian mirror name (deb.debian.org, security.debian.org...) are served from those.
#
# Idempotent: a proxy this script started that still answers, with the same configuration, is kept; one with another
# (BIND changed) is restarted. Prints the proxy's URL for this machine
# (http://127.0.0.1:PORT/) once it has fetched the archive's Release file through it; exits non-zero otherwise.
#
# What it exposes: TCP port PORT of the addresses in BIND (space-separated; 127.0.0.1 must be one of them, where
# this script checks it), or of every address of this machine when BIND is empty (the default). installed-vm.sh
# starts it on 127.0.0.1 only, for the base system's build, and InstalledVm restarts it on 127.0.0.1 and this
# machine's underlay address once the fleet is up (the address the test VMs reach it at exists only then). Whoever
# can reach those addresses on PORT can fetch Debian packages through it (only from the mirrors above: its Remap
# rules). Its report and maintenance page is off (no ReportPage). It runs until the e2e that started it ends, or
# until --stop.
#
# The Debian package apt-cacher-ng (installed by deploy/dev/install-deps.sh) also starts the package's own service,
# on port 3142 of every address, where systemd runs; this script does not use it. To switch it off:
# systemctl disable --now apt-cacher-ng
#
# usage: deploy/e2e/apt-proxy.sh [--stop]        (root; env: STATE, PORT, SUITE, BIND)
set -euo pipefail

STATE=${STATE:-/var/cache/virtfleet-e2e/apt-proxy}
PORT=${PORT:-3144}
BIND=${BIND:-}
SUITE=${SUITE:-bookworm}
ACNG=/usr/sbin/apt-cacher-ng
pidfile=$STATE/run/pid

die() { echo "apt-proxy: $*" >&2; exit 1; }

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

stop() {
  if running; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

if [[ ${1:-} == --stop ]]; then
  stop
  exit 0
fi
[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -x $ACNG ]] || die "apt-cacher-ng is not installed (deploy/dev/install-deps.sh)"

# The first http URI of this machine's apt sources (one-line or deb822 format) whose path ends in /$1.
source_uri() {
  local suffix=$1 files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  local f
  for f in "${files[@]}"; do
    [[ -f $f ]] || continue
    # One-line entries: "deb [options] URI suite..."; deb822: "URIs: URI...". Comments and https are skipped.
    sed -n -E -e 's/^[[:space:]]*deb([[:space:]]+\[[^]]*\])?[[:space:]]+(http:[^[:space:]]+).*/\2/p' \
        -e 's/^[[:space:]]*URIs:[[:space:]]*(.*)/\1/p' "$f" | tr ' ' '\n' \
      | grep -E "^http://[^/]+(/.*)?/$suffix/?\$" || true
  done | head -n 1
}

archive=$(source_uri debian)
[[ -n $archive ]] || die "no http://.../debian mirror in this machine's apt sources"
security=$(source_uri debian-security)
archive=${archive%/}/
security=${security:+${security%/}/}

conf=$STATE/conf
mkdir -p "$conf" "$STATE/cache" "$STATE/log" "$STATE/run"
echo "$archive" > "$conf/backends_debian"
next=$STATE/run/acng.conf.next
{
  echo "# Written by virtfleet's deploy/e2e/apt-proxy.sh; rewritten at each start."
  echo "CacheDir: $STATE/cache"
  echo "LogDir: $STATE/log"
  echo "SupportDir: /usr/lib/apt-cacher-ng"
  echo "Port: $PORT"
  [[ -z $BIND ]] || echo "BindAddress: $BIND"
  echo "PidFile: $pidfile"
  echo "SocketPath: $STATE/run/socket"
  echo "ExThreshold: 4"
  # Any known Debian mirror name under /debian is served from this machine's mirror (backends_debian).
  echo "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian"
  if [[ -n $security ]]; then
    echo "Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; $security"
  fi
} > "$next"

url=http://127.0.0.1:$PORT/
answers() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -x "$url" "${archive}dists/$SUITE/Release" || true) == 200 ]]
}

if running && cmp -s "$next" "$conf/acng.conf" && answers; then
  rm -f "$next"
  echo "$url"
  exit 0
fi
stop
mv "$next" "$conf/acng.conf"
if ss -Htln "sport = :$PORT" | grep -q .; then
  die "port $PORT is taken by another program: $(ss -Htlnp "sport = :$PORT" | head -n 1)"
fi
# The cache belongs to the package's user when it exists; the daemon detaches and writes its pid file.
if id apt-cacher-ng >/dev/null 2>&1; then
  chown -R apt-cacher-ng: "$STATE/cache" "$STATE/log" "$STATE/run"
  runuser -u apt-cacher-ng -- "$ACNG" -c "$conf" ForeGround=0
else
  "$ACNG" -c "$conf" ForeGround=0
fi
for _ in $(seq 1 40); do
  if answers; then
    echo "$url"
    exit 0
  fi
  sleep 0.5
done
die "the proxy on port $PORT does not fetch ${archive}dists/$SUITE/Release (log: $STATE/log)"
