#!/usr/bin/env bash
# The installed system, proven (BENCHMARKS.md §10): a LAN VM (profile ui) and a failover-IP VM (profile api) created
# with the CLI on a real libvirtd host in a network namespace, installed from the preseed the controller serves each
# of them, booted from their own disks through the BIOS, and checked from outside: SSH with the operator's key as the
# install user, root refused, nginx (ui) or the api unit (api), the failover VM's /32 with its on-link and default
# routes to the .254 gateway and its way to the controller, and `vm show` saying installed.
#
# What is real and what is played: the fleet (controller JVM, agent JVM, libvirtd, QEMU/TCG, Ceph), the CLI, the
# install server, the preseeds, the profiles' scripts, the late command, the callback, the disks and the boots are
# real. Debian's netboot installer is not run to its end: the registry these machines reach serves no .udeb
# components, so it would stop at "Loading additional components". Its work up to the end of its package selection
# is played by deploy/e2e/play-installer.sh from the served preseed's answers (a debootstrap base system, cached
# between runs), and then the preseed's own early and late commands run as served, in busybox's sh with busybox's
# applets, as in the installer (see that script's header).
# Set up by the harness, not by virtfleet: the installer's network (the namespace's address and routes: the LAN's
# .240, or the failover /32 with the routes virtfleet's initrd hook would add), the VM's grub.cfg (written by
# disk-image.sh, not update-grub), and the failover routing (the controller's static failover-routes and
# --failover-mac: OVH's API is not involved).
#
# Needs root, and the packages of deploy/dev/install-deps.sh (it is run first: it installs what is missing). Builds
# the controller with Maven as root in this work tree (deploy/bench/classpath.sh): target/ directories and ~/.m2
# are then root's. Starts its own package proxy (deploy/e2e/apt-proxy.sh: port 3144 of 127.0.0.1 and, once the
# fleet is up, of its underlay address; stopped at the end unless it was already running), whose cache and the base
# system stay in /var/cache/virtfleet-e2e for the next run. Takes 5 to 8 minutes, and some 11 more the first time
# (the base system is built). Prints each phase with its time; exits non-zero, naming the failed check, on any failure. Ctrl-C or
# SIGTERM stops the fleet first (its JVM's shutdown hooks), then cleans up.
#
# usage: sudo deploy/e2e/installed-vm.sh [--keep]    (--keep: leave the work directory, VM roots and logs, behind)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
source deploy/e2e/phases.sh

keep=false
case "${1:-}" in
  -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --keep) keep=true ;;
  "") ;;
  *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
esac
if [[ $(id -u) -ne 0 ]]; then
  echo "installed-vm: run as root (it starts libvirtd, network namespaces, a package proxy; sudo $0)" >&2
  exit 2
fi

# The e2e's own proxy port: apt-cacher-ng's usual 3142 may be taken by the package's own service.
PROXY_PORT=3144
work=$(mktemp -d /var/tmp/virtfleet-e2e.XXXXXX)
status=1
# A proxy this run starts is stopped at its end; one already running (a run of --keep, or started by hand) stays.
started_proxy=false
if ! ss -Htln "sport = :$PROXY_PORT" | grep -q .; then
  started_proxy=true
fi
cleanup() {
  # Mounts live only in the private mount namespaces of the scripts; the fleet removes its own namespaces and VMs.
  if [[ $started_proxy == true ]]; then
    PORT=$PROXY_PORT deploy/e2e/apt-proxy.sh --stop || true
  fi
  if [[ $keep == true || $status -ne 0 ]]; then
    # The VMs' roots are large and rebuilt each run: only the logs are worth keeping after a failure.
    [[ $keep == true ]] || find "$work" -mindepth 2 -maxdepth 2 -name root -type d -exec rm -rf --one-file-system {} +
    echo "installed-vm: work directory kept: $work" >&2
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT

echo "== installed-vm: $(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg), work directory $work"
phase "packages (deploy/dev/install-deps.sh)" bash -c 'deploy/dev/install-deps.sh > "$1/install-deps.log" 2>&1' _ "$work"
# On 127.0.0.1 only until the fleet is up: then InstalledVm adds the underlay address the VMs reach it at.
phase "package proxy (apt-cacher-ng, 127.0.0.1)" bash -c \
  'PORT=$2 BIND=127.0.0.1 deploy/e2e/apt-proxy.sh > "$1/proxy-url"' _ "$work" "$PROXY_PORT"
proxy=$(cat "$work/proxy-url")
# The base system, built once through the proxy and kept (it says whether it was cached).
phase "base system (debootstrap, kernel, GRUB)" bash -c \
  'deploy/e2e/base-system.sh "$2" http://deb.debian.org/debian/ > "$1/base-dir"' _ "$work" "$proxy"
phase "operator SSH key (ssh-keygen)" ssh-keygen -q -t ed25519 -N "" -C "virtfleet e2e operator" -f "$work/operator-key"
phase "build (controller with test classes)" bash -c 'source deploy/bench/classpath.sh > "$1/build.log" 2>&1 \
  && echo "$CP" > "$1/classpath"' _ "$work"

# The fleet run in the background, so that an interrupt (Ctrl-C, SIGTERM) reaches it: timeout runs it in a process
# group of its own, which the terminal's Ctrl-C does not reach. On INT or TERM the run is told to stop (timeout
# passes TERM on to java, whose shutdown hooks stop the agents, libvirtd, QEMU, Ceph and remove the namespaces), and
# only once it has ended does the EXIT trap stop the proxy and remove the work directory.
timeout 3600 java -Xmx512m -cp "$(cat "$work/classpath")" io.virtfleet.controller.e2e.InstalledVm \
  --work "$work" --scripts "$ROOT/deploy/e2e" --base "$(cat "$work/base-dir")" --ssh-key "$work/operator-key" \
  --proxy-port "$PROXY_PORT" &
fleet=$!
stop_fleet() {
  trap '' INT TERM
  echo "installed-vm: interrupted, stopping the fleet (pid $fleet) before cleaning up" >&2
  kill -TERM "$fleet" 2>/dev/null || true
  while kill -0 "$fleet" 2>/dev/null; do wait "$fleet" || true; done
  exit 130
}
trap stop_fleet INT TERM
wait "$fleet"
trap - INT TERM
status=0
