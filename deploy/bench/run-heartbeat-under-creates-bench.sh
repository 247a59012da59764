#!/usr/bin/env bash
# Heartbeats under creates: simulated agents (mutual TLS, one connection each) heartbeat to a controller with 5
# embedded hosts, first alone (baseline), then while 200 'vm create' run at once. Prints the heartbeat round
# trip's p50/p99/max in both phases and the ratio of the p99s. Needs root (network namespaces for the LAN).
#
# usage: deploy/bench/run-heartbeat-under-creates-bench.sh [HeartbeatUnderCreatesBench flags, e.g. --agents 50 --creates 200]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

source deploy/bench/classpath.sh # builds, sets CP, prints the machine
java -Djava.util.logging.config.file=/dev/null -cp "$CP" io.virtfleet.bench.HeartbeatUnderCreatesBench "$@" 2>/dev/null
