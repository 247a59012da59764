#!/usr/bin/env bash
# Placement benchmark (JMH): decisions per second on one thread and sampled latency (p50/p99/p99.9) at
# 100, 1,000 and 10,000 hosts, against two baselines measured in the same run: the same decisions by the
# scheduler as it was before its index (one pass over every host, test code only) and a one-pass scan of one
# number per host; and what a host's heartbeat report costs the scheduler (update), before and after.
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

source deploy/bench/classpath.sh # builds, sets CP

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== machine: $(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1)"
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
print("place: the scheduler; one-pass: the scheduler before its index (same run); scan: one number per host;")
print("update: one host's report taken in (ns, the index kept current), and the same before the index")
print(f"{'hosts':>6} {'decisions/s':>12} {'p50 us':>7} {'p99 us':>7} {'p99.9 us':>8} {'one-pass/s':>11} {'p99 us':>7}"
      f" {'speed-up':>8} {'scan/s':>12} {'scan/place':>10} {'update ns':>9} {'before':>7} goal@10k")
for hosts in ("100", "1000", "10000"):
    p, o, s = (thr.get((m, hosts)) for m in ("place", "placeOnePass", "scan"))
    p50, p99, p999 = (lat.get(("place", k, hosts)) for k in ("p0.50", "p0.99", "p0.999"))
    o99 = lat.get(("placeOnePass", "p0.99", hosts))
    u, uo = (1e9 / thr[(m, hosts)] if thr.get((m, hosts)) else 0 for m in ("update", "updateOnePass"))
    goal = ""
    if hosts == "10000":
        goal = "MET" if p >= 20000 and p99 is not None and p99 <= 1000 else "NOT MET"
    print(f"{hosts:>6} {p:>12,.0f} {p50 or 0:>7.1f} {p99 or 0:>7.1f} {p999 or 0:>8.1f} {o or 0:>11,.0f} {o99 or 0:>7.1f}"
          f" {p / o if o else 0:>7.1f}x {s:>12,.0f} {s / p:>9.2f}x {u:>9.0f} {uo:>7.0f} {goal}")
    print(f"RESULT placement hosts={hosts} decisions_per_s={p:.0f} one_pass_per_s={o or 0:.0f} scan_per_s={s:.0f}"
          f" cost_vs_scan={s / p:.3f} p50_us={p50} p99_us={p99} p999_us={p999} one_pass_p99_us={o99}"
          f" update_ns={u:.0f} update_one_pass_ns={uo:.0f}")
PY
