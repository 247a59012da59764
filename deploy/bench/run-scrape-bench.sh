#!/usr/bin/env bash
# One scrape of the controller's Prometheus metrics (collect + text format, as its endpoint answers it) at 1,000
# hosts and 10,000 VMs (JMH, one thread), against the baseline measured in the same run: the same registry without
# the fleet (JVM and event metrics only). Prints the time per scrape, the size, and the share of one core a
# Prometheus scraping every 15 s costs. Results go to BENCHMARKS.md by hand.
#
# usage: deploy/bench/run-scrape-bench.sh [--quick]
#   --quick   1 warm-up and 2 measured iterations of 1 s instead of 3 and 5 of 2 s
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

jmh_time=(-wi 3 -w 2s -i 5 -r 2s)
for arg in "$@"; do
  case "$arg" in
    --quick) jmh_time=(-wi 1 -w 1s -i 2 -r 1s) ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-scrape-bench: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
java -cp "$CP" org.openjdk.jmh.Main 'io.virtfleet.bench.ScrapeBench\.' "${jmh_time[@]}" -rf csv -rff "$out/scrape.csv" \
  2>&1 | tee "$out/log"

echo
echo "== summary"
python3 - "$out/scrape.csv" "$out/log" <<'PY'
import csv, re, sys
score = {row["Benchmark"].rsplit(".", 1)[1]: float(row["Score"]) for row in csv.DictReader(open(sys.argv[1]))}
size = re.search(r"scrape size: fleet ([\d,]+) bytes in ([\d,]+) lines; baseline ([\d,]+) bytes", open(sys.argv[2]).read())
fleet, base = score["scrapeFleet"], score["scrapeBaseline"]
print(f"scrape at 1,000 hosts / 10,000 VMs: {fleet:.2f} ms ({size.group(1)} bytes, {size.group(2)} lines);"
      f" baseline {base:.2f} ms ({size.group(3)} bytes); {fleet / base:.1f}x the baseline")
print(f"one scrape every 15 s: {fleet / 15000 * 100:.3f} % of one core (baseline {base / 15000 * 100:.4f} %)")
print(f"RESULT scrape hosts=1000 vms=10000 fleet_ms={fleet:.3f} baseline_ms={base:.3f}"
      f" fleet_bytes={size.group(1).replace(',', '')} baseline_bytes={size.group(3).replace(',', '')}")
print(f"RATIO scrape fleet_vs_baseline={fleet / base:.2f}")
PY
