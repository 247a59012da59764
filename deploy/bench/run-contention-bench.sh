#!/usr/bin/env bash
# Claims under contention: 200 'vm create' at once on 5 embedded hosts (each a whole create: placement and
# claim, git commit, raw disk, LAN, definition, start), against the same creates one at a time in the same run.
# Prints how many were created and refused, throughput, and whether any host was overcommitted. Needs root.
#
# usage: deploy/bench/run-contention-bench.sh [ClaimContentionBench flags, e.g. --creates 200 --hosts 5]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

source deploy/bench/classpath.sh # builds, sets CP, prints the machine
java -Djava.util.logging.config.file=/dev/null -cp "$CP" io.virtfleet.bench.ClaimContentionBench "$@" 2>/dev/null
