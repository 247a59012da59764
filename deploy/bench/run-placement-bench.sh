#!/usr/bin/env bash
# Placement benchmark (JMH): decisions per second on one thread and sampled latency (p50/p99/p99.9) at
# 100, 1,000 and 10,000 hosts, against a baseline measured in the same run: a one-pass scan of one number
# per host; and what a host's heartbeat report costs the scheduler (update).
# Results go to BENCHMARKS.md by hand; this prints them and a ratio table.
#
# usage: deploy/bench/run-placement-bench.sh [--quick]
#   --quick   1 warm-up and 2 measured iterations of 1 s instead of 3 and 5 of 2 s
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

jmh_time=(-wi 3 -w 2s -i 5 -r 2s)
for arg in "$@"; do
  case "$arg" in
    --quick) jmh_time=(-wi 1 -w 1s -i 2 -r 1s) ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-placement-bench: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== throughput"
java -cp "$CP" org.openjdk.jmh.Main 'io.virtfleet.bench.PlacementBench' -bm thrpt -tu s "${jmh_time[@]}" \
  -rf csv -rff "$out/thrpt.csv"
echo "== latency (sampled)"
java -cp "$CP" org.openjdk.jmh.Main 'io.virtfleet.bench.PlacementBench.place' -bm sample -tu us "${jmh_time[@]}" \
  -rf csv -rff "$out/sample.csv"

echo
echo "== summary"
python3 - "$out/thrpt.csv" "$out/sample.csv" <<'PY'
import csv, sys
thr = {}
for row in csv.DictReader(open(sys.argv[1])):
    thr[(row["Benchmark"].rsplit(".", 1)[1], row["Param: hosts"])] = float(row["Score"])
lat = {}
for row in csv.DictReader(open(sys.argv[2])):
    name = row["Benchmark"]
    if ":" in name:
        method, pct = name.split(":", 1)
        lat[(method.rsplit(".", 1)[1], pct, row["Param: hosts"])] = float(row["Score"])
print("place: the scheduler; scan: one number per host, same run; update: one host's report taken in (ns)")
print(f"{'hosts':>6} {'decisions/s':>12} {'p50 us':>7} {'p99 us':>7} {'p99.9 us':>8} {'scan/s':>12} {'scan/place':>10}"
      f" {'update ns':>9} goal@10k")
for hosts in ("100", "1000", "10000"):
    p, s = (thr.get((m, hosts)) for m in ("place", "scan"))
    p50, p99, p999 = (lat.get(("place", k, hosts)) for k in ("p0.50", "p0.99", "p0.999"))
    u = 1e9 / thr[("update", hosts)] if thr.get(("update", hosts)) else 0
    goal = ""
    if hosts == "10000":
        goal = "MET" if p >= 20000 and p99 is not None and p99 <= 1000 else "NOT MET"
    print(f"{hosts:>6} {p:>12,.0f} {p50 or 0:>7.1f} {p99 or 0:>7.1f} {p999 or 0:>8.1f} {s:>12,.0f} {s / p:>9.2f}x"
          f" {u:>9.0f} {goal}")
    print(f"RESULT placement hosts={hosts} decisions_per_s={p:.0f} scan_per_s={s:.0f} cost_vs_scan={s / p:.3f}"
          f" p50_us={p50} p99_us={p99} p999_us={p999} update_ns={u:.0f}")
PY
