#!/usr/bin/env bash
# Fan-out benchmarks of replication (BENCHMARKS.md §7):
#  1. FanOutBench: a changed definition reaching 5 real libvirtd hosts (each a network namespace with a real agent
#     JVM; a real single-node Ceph) through virtfleet's fan-out (virtfleet sync) against the runbook's own procedure
#     scripted in the same run: for each host in turn, git pull of its clone from the controller's git server, then
#     virsh define. Goals: at least 3x faster, and within 1.5x of the slowest single host's pull + define.
#  2. SimulatedFanOutBench: the same fan-out to 200 agents on libvirt's test driver in one JVM: p50/p99 of the time
#     until all 200 have defined, and each host's answer time.
# Needs root and the packages of deploy/dev/install-deps.sh.
#
# usage: deploy/bench/run-fanout-bench.sh [--quick] [--real-only | --simulated-only]
#   --quick           5 rounds after 2 warm-up ones (instead of 20 after 3), 50 simulated hosts instead of 200
#   --real-only       only the 5-host benchmark; --simulated-only: only the 200-agent one
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

real_args=()
simulated_args=()
run_real=1
run_simulated=1
for arg in "$@"; do
  case "$arg" in
    --quick) real_args+=(--rounds 5 --warmup 2); simulated_args+=(--rounds 5 --warmup 2 --hosts 50) ;;
    --real-only) run_simulated=0 ;;
    --simulated-only) run_real=0 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

if [ "$run_real" = 1 ]; then
  echo "== fan-out to 5 real libvirtd hosts vs the runbook (git pull + virsh define, host after host)"
  # The agents' JVMs get this JVM's class path.
  timeout 900 java -Xmx1g -cp "$CP" io.virtfleet.bench.FanOutBench "${real_args[@]}"
fi
if [ "$run_simulated" = 1 ]; then
  echo "== fan-out to simulated agents (libvirt test driver, one JVM)"
  timeout 900 java -Xmx6g -cp "$CP" io.virtfleet.bench.SimulatedFanOutBench "${simulated_args[@]}"
fi
