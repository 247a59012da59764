#!/usr/bin/env bash
# Live migration benchmark (BENCHMARKS.md §11): a running Ceph-backed VM (1 GiB, QEMU/TCG) moved by the agent's
# MigrateDomain against `virsh migrate --live --tls` with the same flags, on the same two hosts in the same run.
# Two real libvirtd hosts of the test kit in network namespaces, listening on TLS with certificates of a CA made for
# the run, a real single-node Ceph. Needs root, the packages of deploy/dev/install-deps.sh and
# debian-installer-12-netboot-amd64. About 1 minute per round (four migrations).
#
# usage: deploy/bench/run-migration-bench.sh [--rounds N] [--warmups N] [--memory MiB]   (defaults 5, 1, 1024)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

echo "== live migration: the agent's MigrateDomain against virsh migrate --live --tls"
timeout 3600 java -Xmx512m -cp "$CP" io.virtfleet.bench.MigrationBench "$@"
