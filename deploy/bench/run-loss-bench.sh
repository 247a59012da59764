#!/usr/bin/env bash
# Loss-to-running benchmark (BENCHMARKS.md §14): a Ceph-backed VM's host is lost (its cable cut, its agent and the
# VM's QEMU frozen) and the controller's automatic failover fences it in Ceph and starts the VM on another host. Times
# from the loss: detection, fencing, start, at the default settings and at the fastest safe settings, against a plain
# libvirt start of the same domain on the new host in the same run. One fleet per setting on real components: three
# libvirtds (QEMU/TCG) in network namespaces on 10.249.26.0/24, real agent JVMs, a real single-node Ceph, the
# controller in a JVM of its own. Needs root and the packages of deploy/dev/install-deps.sh. About 12 minutes (14 with --rounds 3).
#
# usage: deploy/bench/run-loss-bench.sh [--rounds N] [--warmups N] [--settings defaults,fastest]
#                                       (defaults 2, 1, defaults,fastest)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

case "${1:-}" in
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "run-loss-bench.sh: needs root (network namespaces, libvirtd, Ceph)" >&2
  exit 1
fi

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

echo "== loss to running: automatic failover at the defaults and at the fastest safe settings"
timeout 3600 java -Xmx512m -cp "$CP" io.virtfleet.bench.LossBench "$@"
