#!/usr/bin/env bash
# Scraping the controller's Prometheus metrics at 1,000 hosts and 10,000 VMs (BENCHMARKS.md §16), two parts:
#   1. jmh: one scrape (collect + text format, as its endpoint answers it) of a real controller holding the fleet
#      (JMH, one thread), against the baseline measured in the same run: a registry without the fleet (JVM and
#      event metrics only). Prints the time per scrape, the size, the share of one core a scrape every 15 s
#      costs if its time is all CPU, and how much of it the VM list (VmService.list) takes.
#   2. load: the controller's own JVM under 1,000 simulated agents heartbeating every second, in alternating
#      phases A (scraped over HTTP every 1 s) and B (not scraped), ABAB..., each over the same number of
#      heartbeats; prints its CPU per phase, the A/B ratio, the CPU of one scrape, and from that the share of a
#      core and the ratio at one scrape every 15 s (derived: the run scrapes every 1 s to have enough scrapes).
# The controller JVM of part 2 runs with the JAVA_OPTS of deploy/systemd/virtfleet-controller.service, as it
# ships (BENCH_CONTROLLER_FLAGS replaces them); extra flags for ScrapeLoadBench in BENCH_SCRAPE_LOAD_ARGS, e.g.
# BENCH_SCRAPE_LOAD_ARGS='--scrape-every 15s --phase-heartbeats 120000' to measure at 15 s itself.
# Results go to BENCHMARKS.md by hand.
#
# usage: deploy/bench/run-scrape-bench.sh [--quick] [--only jmh|load]
#   --quick   jmh: 1 warm-up and 2 measured iterations of 1 s instead of 3 and 5 of 2 s;
#             load: 2 pairs of 15,000 heartbeats after a 15 s warm-up instead of 4 pairs of 30,000 after 40 s
#   --only    run one part
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

jmh_time=(-wi 3 -w 2s -i 5 -r 2s)
load_args=(--pairs 4 --phase-heartbeats 30000 --warmup 40s --max-warmup 180s)
only=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick)
      jmh_time=(-wi 1 -w 1s -i 2 -r 1s)
      load_args=(--pairs 2 --phase-heartbeats 15000 --warmup 15s --max-warmup 60s) ;;
    --only)
      [[ $# -ge 2 && ( $2 == jmh || $2 == load ) ]] || { echo "run-scrape-bench: --only takes jmh or load" >&2; exit 2; }
      only=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-scrape-bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ $only != load ]]; then
  echo "== 1. one scrape (JMH)"
  java -cp "$CP" org.openjdk.jmh.Main 'io.virtfleet.bench.ScrapeBench\.' "${jmh_time[@]}" -rf csv -rff "$out/scrape.csv" \
    2>&1 | tee "$out/log"
  echo
  echo "== summary: one scrape"
  python3 - "$out/scrape.csv" "$out/log" <<'PY'
import csv, re, sys
score = {row["Benchmark"].rsplit(".", 1)[1]: float(row["Score"]) for row in csv.DictReader(open(sys.argv[1]))}
size = re.search(r"scrape size: fleet ([\d,]+) bytes in ([\d,]+) lines; baseline ([\d,]+) bytes", open(sys.argv[2]).read())
fleet, base = score["scrapeFleet"], score["scrapeBaseline"]
print(f"scrape at 1,000 hosts / 10,000 VMs: {fleet:.2f} ms ({size.group(1)} bytes, {size.group(2)} lines);"
      f" baseline {base:.2f} ms ({size.group(3)} bytes); {fleet / base:.1f}x the baseline")
print(f"one scrape every 15 s: {fleet / 15000 * 100:.3f} % of one core (baseline {base / 15000 * 100:.4f} %)")
if "listVms" in score:
    print(f"of which VmService.list: {score['listVms']:.2f} ms ({score['listVms'] / fleet * 100:.0f} % of the scrape)")
print(f"RESULT scrape hosts=1000 vms=10000 fleet_ms={fleet:.3f} baseline_ms={base:.3f}"
      f" fleet_bytes={size.group(1).replace(',', '')} baseline_bytes={size.group(3).replace(',', '')}"
      f" list_vms_ms={score.get('listVms', float('nan')):.3f}")
print(f"RATIO scrape fleet_vs_baseline={fleet / base:.2f}")
PY
  echo
fi

if [[ $only != jmh ]]; then
  controller_flags=${BENCH_CONTROLLER_FLAGS-$(sed -n 's/^Environment="JAVA_OPTS=\(.*\)"$/\1/p' \
    deploy/systemd/virtfleet-controller.service | head -1)}
  echo "== 2. controller CPU with and without scraping, 1,000 heartbeating agents"
  echo "== machine at the start of part 2: $(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  eval "extra_load=(${BENCH_SCRAPE_LOAD_ARGS:-})"
  # The simulated agents use the JDK's TLS, as real agents do (as in run-benchmarks.sh).
  timeout 3600 java -Dio.netty.handler.ssl.noOpenSsl=true -cp "$CP" io.virtfleet.bench.ScrapeLoadBench \
    --controller-jvm-flags "$controller_flags" "${load_args[@]}" "${extra_load[@]}"
  echo "== machine at the end: load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
