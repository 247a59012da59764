#!/usr/bin/env bash
# VM create benchmark: end-to-end `vm create` through the Fleet API (mutual TLS, placement, claim, git commit,
# disk, LAN, define, start) against the tools it drives run by hand for an equivalent VM on the same real libvirtd
# (QEMU/TCG): qemu-img create + virsh define + virsh start. Rounds alternate between the two, in the same run;
# raw disks, and sata disks on a real single-node Ceph. Prints medians, p90 and virtfleet's overhead as a
# percentage of the tools' time (goal: at most 30 %). Needs root and the packages of deploy/dev/install-deps.sh.
#
# usage: deploy/bench/run-create-bench.sh [--quick] [VmCreateBench flags...]
#   --quick   5 rounds after 2 warm-up ones, raw disks only (no Ceph), instead of 10 after 3 on raw and sata
#   other flags go to the main, e.g. --rounds 20 --tiers raw,sata,ssd --memory-mib 256 (see --help)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

bench_args=()
for arg in "$@"; do
  case "$arg" in
    --quick) bench_args+=(--rounds 5 --warmup 2 --tiers raw) ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) bench_args+=("$arg") ;;
  esac
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

timeout 900 java -cp "$CP" io.virtfleet.bench.VmCreateBench "${bench_args[@]}"
