#!/usr/bin/env bash
# A commit to the definitions repository (two files, as a VM create writes them) in a repository holding 10 and
# 10,000 VM records (JMH, real JGit on this disk, fsyncs included). The baseline is the 10-record repository, in
# the same run: the ratio says how a commit's cost grows with the fleet. Each trial also prints how long the one
# commit of all the records took. Results go to BENCHMARKS.md by hand.
#
# usage: deploy/bench/run-commit-bench.sh [--quick]
#   --quick   1 warm-up and 2 measured iterations of 1 s instead of 3 and 5 of 2 s
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

jmh_time=(-wi 3 -w 2s -i 5 -r 2s)
for arg in "$@"; do
  case "$arg" in
    --quick) jmh_time=(-wi 1 -w 1s -i 2 -r 1s) ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-commit-bench: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
java -cp "$CP" org.openjdk.jmh.Main 'io.virtfleet.bench.DefinitionsCommitBench' -p vms=10,10000 "${jmh_time[@]}" \
  -rf csv -rff "$out/commit.csv" | tee "$out/log" | grep -E '^seeded|^DefinitionsCommitBench|^Benchmark'
python3 - "$out/commit.csv" <<'PY'
import csv, sys
ms = {row["Param: vms"]: float(row["Score"]) for row in csv.DictReader(open(sys.argv[1]))}
print(f"RESULT commit vms=10 ms={ms['10']:.2f} vms=10000 ms={ms['10000']:.2f}")
print(f"RATIO commit vms10000_vs_vms10={ms['10000'] / ms['10']:.2f}")
PY
