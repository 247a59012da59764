#!/usr/bin/env bash
# Failover benchmark (BENCHMARKS.md §14): 20 Ceph-backed VMs of a lost host restarted elsewhere by the real
# controller (Fleet.RecoverHost, as `virtfleet host recover NAME` does) with failover-parallel 4 (the default) against
# 1 (one at a time), in the same run. An embedded fleet per measurement: the controller and three agents in one JVM
# on libvirt test-driver hypervisors (networks in namespaces), a real single-node Ceph. Needs root and ceph-mon
# ceph-osd ceph-common. About 1 minute per measurement.
#
# usage: deploy/bench/run-failover-bench.sh [--vms N] [--rounds N] [--warmups N] [--parallel N[,N...]]
#                                           (defaults 20, 3, 1, 1,4)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

case "${1:-}" in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

echo "== failover: RecoverHost with failover-parallel 4 against 1"
timeout 3600 java -Xmx1g -cp "$CP" io.virtfleet.bench.FailoverBench "$@"
