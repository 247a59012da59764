#!/usr/bin/env bash
# Drain benchmark (BENCHMARKS.md §13): a host with 6 running Ceph-backed VMs emptied through the real controller
# (Fleet.EvacuateHost, as `virtfleet host drain NAME --move` does, 2 moves at a time) against the same moves issued
# one after another through Fleet.MoveVm, in the same run; also each move's end-to-end time. Two real libvirtd hosts
# of the test kit in network namespaces (TLS with the fleet CA's certificates), real agents, a real single-node Ceph,
# the controller in its own JVM. Needs root and the packages of deploy/dev/install-deps.sh. About 1 minute per round.
#
# usage: deploy/bench/run-drain-bench.sh [--vms N] [--rounds N] [--warmups N] [--memory MiB] [--parallel N[,N...]]
#                                        [--settle DURATION]     (defaults 6, 3, 1, 256, 2, 3m)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

echo "== drain: EvacuateHost against the same moves one after another (MoveVm)"
timeout 5400 java -Xmx512m -cp "$CP" io.virtfleet.bench.DrainBench "$@"
