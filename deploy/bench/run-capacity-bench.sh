#!/usr/bin/env bash
# Capacity and placement with the N+1 reserve (JMH, one thread), at 1,000 and 10,000 hosts of the placement
# benchmark's fleet, 3 VMs per host ("third"); and at 1,000 hosts filled further until the reserve refuses 100
# creates in a row ("limit"). Baselines measured in the same run, on the same fleet: decisions without the reserve
# (place), and placement's own answer for every host (explain, as place --explain) for capacity.
# Goals at 10,000 hosts: capacity keeping the reserve in <= 50 ms, >= 20,000 decisions/s keeping the reserve.
# The count keeping the reserve is also timed for smaller VMs (more VMs counted), and for the first ten counts of a
# fresh JVM. Every fork runs with the JAVA_OPTS of deploy/systemd/virtfleet-controller.service.
# Results go to BENCHMARKS.md by hand; this prints them and a ratio table.
#
# usage: deploy/bench/run-capacity-bench.sh [--quick]
#   --quick   1 warm-up and 2 measured iterations of 1 s instead of 3 and 5 of 2 s
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

jmh_time=(-wi 3 -w 2s -i 5 -r 2s)
for arg in "$@"; do
  case "$arg" in
    --quick) jmh_time=(-wi 1 -w 1s -i 2 -r 1s) ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-capacity-bench: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

source deploy/bench/classpath.sh # builds, sets CP, prints the machine
# What ships is what is measured: the controller unit's JVM flags (they replace the benchmark's own).
unit_opts=$(sed -n 's/^Environment="JAVA_OPTS=\(.*\)"$/\1/p' deploy/systemd/virtfleet-controller.service)
[ -n "$unit_opts" ] || { echo "run-capacity-bench: no JAVA_OPTS in deploy/systemd/virtfleet-controller.service" >&2; exit 1; }
echo "== JVM flags of the forks (the controller unit's): $unit_opts"
jvm=(-jvmArgsAppend "$unit_opts")

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bench='io.virtfleet.bench.CapacityBench'
echo "== decisions and counts, 3 VMs per host"
java -cp "$CP" org.openjdk.jmh.Main "$bench\.(place|placeNPlusOne|capacity|explain)$" -p hosts=1000,10000 -p fill=third \
  -p spec=8g4 "${jvm[@]}" "${jmh_time[@]}" -rf csv -rff "$out/third.csv"
echo "== decisions and counts where the reserve binds (1,000 hosts)"
java -cp "$CP" org.openjdk.jmh.Main "$bench\.(place|placeNPlusOne|capacity|explain)$" -p hosts=1000 -p fill=limit \
  -p spec=8g4 "${jvm[@]}" "${jmh_time[@]}" -rf csv -rff "$out/limit.csv"
echo "== capacity keeping the reserve (one count a shot, after 60 to warm up)"
java -cp "$CP" org.openjdk.jmh.Main "$bench\.capacityNPlusOne$" -p hosts=1000,10000 -p fill=third -p spec=8g4 \
  "${jvm[@]}" -rf csv -rff "$out/kept.csv"
echo "== the same for smaller VMs at 10,000 hosts (more VMs counted; 10 counts after 40)"
java -cp "$CP" org.openjdk.jmh.Main "$bench\.capacityNPlusOne$" -p hosts=10000 -p fill=third \
  -p spec=4g2,2g2,1g1,0.125g1 -wi 40 -i 10 "${jvm[@]}" -rf csv -rff "$out/specs.csv"
echo "== the first ten counts of a fresh JVM, 10,000 hosts, 8 GiB (two JVMs; the JIT compiles the count meanwhile)"
java -cp "$CP" org.openjdk.jmh.Main "$bench\.capacityNPlusOne$" -p hosts=10000 -p fill=third -p spec=8g4 \
  -wi 0 -i 10 -f 2 "${jvm[@]}" > "$out/cold.log"

echo
echo "== summary"
python3 - "$out/third.csv" "$out/limit.csv" "$out/kept.csv" "$out/specs.csv" "$out/cold.log" <<'PY'
import csv, re, sys
score = {}
for path in sys.argv[1:4]:
    for row in csv.DictReader(open(path)):
        score[(row["Benchmark"].rsplit(".", 1)[1], row["Param: hosts"], row["Param: fill"])] = float(row["Score"])
print("decisions/s without and with the reserve; capacity and place --explain (ms); capacity keeping the reserve (ms)")
print(f"{'hosts':>6} {'fill':>6} {'place/s':>10} {'N+1/s':>10} {'N+1/place':>9} {'capacity':>9} {'explain':>8}"
      f" {'cap/expl':>8} {'cap N+1':>9}  goals@10k")
for hosts, fill in (("1000", "third"), ("10000", "third"), ("1000", "limit")):
    p, r = score.get(("place", hosts, fill)), score.get(("placeNPlusOne", hosts, fill))
    c, e = score.get(("capacity", hosts, fill)), score.get(("explain", hosts, fill))
    k = score.get(("capacityNPlusOne", hosts, fill))
    if None in (p, r, c, e):
        continue
    goal = ""
    if hosts == "10000":
        # The goal is capacity keeping the reserve (what --n-plus-one asks); without it, for comparison.
        goal = ("decisions " + ("MET" if r >= 20000 else "NOT MET") + ", capacity keeping the reserve "
                + ("not measured" if k is None else "MET" if k <= 50 else "NOT MET")
                + " (without it " + ("met" if c <= 50 else "not met") + ")")
    kept = f"{k:>9.1f}" if k is not None else f"{'-':>9}"
    print(f"{hosts:>6} {fill:>6} {p:>10,.0f} {r:>10,.0f} {r / p:>8.2f}x {c:>9.2f} {e:>8.2f} {c / e:>7.2f}x {kept}  {goal}")
    print(f"RESULT capacity hosts={hosts} fill={fill} decisions_per_s={p:.0f} n_plus_one_decisions_per_s={r:.0f}"
          f" capacity_ms={c:.3f} explain_ms={e:.3f}" + (f" capacity_n_plus_one_ms={k:.1f}" if k is not None else ""))
    print(f"RATIO capacity hosts={hosts} fill={fill} n_plus_one_vs_place={r / p:.3f} capacity_vs_explain={c / e:.3f}"
          + (f" capacity_n_plus_one_vs_explain={k / e:.2f}" if k is not None else ""))
for row in csv.DictReader(open(sys.argv[4])):
    ms = float(row["Score"])
    print(f"capacity keeping the reserve at 10,000 hosts, a VM of {row['Param: spec']}: {ms:.1f} ms"
          f" ({'MET' if ms <= 50 else 'NOT MET'})")
    print(f"RESULT capacity_n_plus_one hosts=10000 spec={row['Param: spec']} ms={ms:.1f}")
shots = [float(x) for x in re.findall(r"^Iteration +\d+: .*?([0-9.]+) ms/op$", open(sys.argv[5]).read(), re.M)]
for fork in range(0, len(shots), 10):
    print("first ten counts of a fresh JVM (ms): " + " ".join(f"{x:.0f}" for x in shots[fork:fork + 10]))
PY
