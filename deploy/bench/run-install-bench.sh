#!/usr/bin/env bash
# Unattended install benchmark (BENCHMARKS.md §8): time from `vm create` to the Debian installer's preseed request
# under TCG, split into virtfleet's steps (the create through the operator API, the install server's answers) and
# the boot itself (kernel, initrd, installer, DHCP). One real libvirtd host of the test kit with a real agent JVM in
# a network namespace, a controller JVM in boot-mode kernel, dnsmasq as the site's DHCP on the VMs' LAN.
# Needs root and the packages of deploy/dev/install-deps.sh. About 90 s per round.
#
# usage: deploy/bench/run-install-bench.sh [--rounds N]   (default 3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

echo "== vm create -> installer's preseed request (direct kernel boot, QEMU/TCG)"
# The agent's and the controller's JVMs get this JVM's class path.
timeout 1800 java -Xmx512m -cp "$CP" io.virtfleet.bench.InstallBootBench "$@"
