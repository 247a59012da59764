#!/usr/bin/env bash
# Runs the benchmarks described in BENCHMARKS.md:
#   1. agent footprint: a real agent JVM, 1 s heartbeat, 50 test-driver domains; RSS and CPU against an idle JVM
#      started with the same flags;
#   2. controller under load: 1,000 simulated agents heartbeating at 1 Hz; controller CPU and heartbeat handling
#      time of the secure controller (mutual TLS, every agent enrolled with its own certificate) against the same
#      controller in plaintext test mode, and of that against a no-op registry;
#   3. reconnect storm: the controller killed and restarted under 1,000 connected agents; time until all are
#      registered and heartbeating again, controller CPU and TLS handshakes, TLS against plaintext.
# Each prints ratios against a baseline measured in the same run, because the machine is shared and noisy, and
# measures several windows (or storms) after a warm-up that waits for the controller's JIT to finish; the end of
# the run is one table: per figure, the median, the spread (smallest-largest), the goal and PASS/FAIL.
# The controller JVMs run with the JAVA_OPTS of deploy/systemd/virtfleet-controller.service and the agent with
# those of deploy/systemd/virtfleet-agent.service ("unit"), i.e. as they ship.
#
# usage: deploy/bench/run-benchmarks.sh [--quick] [--build | --no-build] [--baseline DIR]
#   --quick     short windows (about 10 minutes in all instead of about 25)
#   --build     rebuild even if the build looks current; --no-build never builds
#   --baseline DIR  also measure the controller of another checkout in the same run (modes real@base, tls@base),
#               e.g. an older commit: git worktree add /tmp/vf-base COMMIT, then in it
#               mvn -B -q -DskipTests -pl controller -am package dependency:build-classpath \
#                   -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test
# Extra flags for each benchmark main can be passed in BENCH_AGENT_ARGS, BENCH_LOAD_ARGS and BENCH_STORM_ARGS,
# e.g. BENCH_AGENT_ARGS='--variant "x=-Xmx32m -XX:+UseSerialGC"' deploy/bench/run-benchmarks.sh --quick
# The simulated agents use the JDK's TLS, as real agents do (the controller uses BoringSSL, which it ships);
# BENCH_AGENTS_TLS=native gives them BoringSSL too, a stand-in for agents doing their half of every handshake
# on their own machines instead of on the controller's two vCPUs. BENCH_CONTROLLER_FLAGS replaces the
# controller unit's JAVA_OPTS for one run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

quick=0
build=auto
baseline=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --build) build=yes ;;
    --no-build) build=no ;;
    --baseline)
      [[ $# -ge 2 ]] || { echo "run-benchmarks: --baseline needs a directory" >&2; exit 2; }
      baseline=$(cd "$2" && pwd); shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-benchmarks: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

CLASSPATH_FILE=controller/target/bench.classpath
AGENT_JAR=agent/target/virtfleet-agent-0.1.0-SNAPSHOT.jar

needs_build() {
  [[ ! -f $CLASSPATH_FILE || ! -f $AGENT_JAR || ! -d controller/target/test-classes/io/virtfleet/bench ]] && return 0
  # Any source or POM newer than the last build?
  [[ -n "$(find pom.xml proto common agent controller -newer "$CLASSPATH_FILE" \
      \( -name '*.java' -o -name '*.proto' -o -name 'pom.xml' \) -not -path '*/target/*' -print -quit)" ]]
}

if [[ $build == yes ]] || { [[ $build == auto ]] && needs_build; }; then
  echo "== building (mvn package, tests skipped)"
  # The reactor resolves the project's own modules to this work tree's jars, not to ~/.m2.
  mvn_args=(-B -q -DskipTests -pl controller -am package dependency:build-classpath
            -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test)
  mvn -o "${mvn_args[@]}" || mvn "${mvn_args[@]}"
  touch "$CLASSPATH_FILE" # the plugin leaves an unchanged file alone; it marks when we last built
fi

loadgen_tls=(-Dio.netty.handler.ssl.noOpenSsl=true)
[[ ${BENCH_AGENTS_TLS:-jdk} == native ]] && loadgen_tls=()

CP="controller/target/test-classes:controller/target/classes:$(cat "$CLASSPATH_FILE")"
AGENT_CP="$AGENT_JAR:agent/target/lib/*"

# The JVM flags the systemd units give the programs (their Environment="JAVA_OPTS=..." line).
unit_java_opts() {
  sed -n 's/^Environment="JAVA_OPTS=\(.*\)"$/\1/p' "$1" | head -1
}
controller_flags=${BENCH_CONTROLLER_FLAGS-$(unit_java_opts deploy/systemd/virtfleet-controller.service)}
agent_unit_flags=$(unit_java_opts deploy/systemd/virtfleet-agent.service)
agent_unit_env=$(sed -n 's/^Environment=\(MALLOC_ARENA_MAX=[0-9]*\)$/\1/p' deploy/systemd/virtfleet-agent.service | head -1)

if [[ $quick == 1 ]]; then
  agent_args=(--warmup 10s --max-warmup 90s --measure 30s --windows 3)
  load_args=(--warmup 15s --max-warmup 60s --windows 3 --measure 10s)
  storm_args=(--storms 2 --settle 5s)
else
  # The controller JVM needs a longer warm-up: at 1,000 calls/s C2 may still compile after a minute; the
  # benchmark waits for its compiler threads to go quiet (up to --max-warmup) before the first window.
  agent_args=(--warmup 20s --max-warmup 300s --measure 90s --windows 3)
  load_args=(--warmup 40s --max-warmup 180s --windows 5 --measure 20s)
  storm_args=(--storms 3 --settle 10s)
fi
load_modes=noop,real,tls
storm_modes=real,tls
if [[ -n $baseline ]]; then
  [[ -f $baseline/controller/target/bench.classpath ]] || {
    echo "run-benchmarks: $baseline/controller/target/bench.classpath missing: build the baseline first (--help)" >&2
    exit 2
  }
  # This build's benchmark classes first (the controller process's command protocol), then the baseline's
  # controller and its dependencies.
  load_args+=(--baseline-classpath
    "$ROOT/controller/target/test-classes:$baseline/controller/target/classes:$(cat "$baseline/controller/target/bench.classpath")")
  load_modes=real,tls,real@base,tls@base
fi
summaries=$(mktemp)
trap 'rm -f "$summaries"' EXIT

machine="$(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, $(java -version 2>&1 | head -1)"
echo "== machine: $machine"
echo "== controller JVM flags: ${controller_flags:-(JVM defaults)}"
echo
echo "== 1. agent footprint"
eval "extra_agent=(${BENCH_AGENT_ARGS:-})"
timeout 900 java -cp "$CP" io.virtfleet.bench.AgentFootprintBench "${agent_args[@]}" \
  --variant "unit=$agent_unit_flags $agent_unit_env" \
  --agent-classpath "$AGENT_CP" --bench-classpath controller/target/test-classes "${extra_agent[@]}" | tee -a "$summaries"
echo
echo "== 2. controller under load"
eval "extra_load=(${BENCH_LOAD_ARGS:-})"
timeout 3600 java "${loadgen_tls[@]}" -cp "$CP" io.virtfleet.bench.ControllerLoadBench --modes "$load_modes" \
  --controller-jvm-flags "$controller_flags" "${load_args[@]}" "${extra_load[@]}" | tee -a "$summaries"
echo
echo "== 3. reconnect storm"
eval "extra_storm=(${BENCH_STORM_ARGS:-})"
timeout 1200 java "${loadgen_tls[@]}" -cp "$CP" io.virtfleet.bench.ReconnectStormBench --modes "$storm_modes" \
  --controller-jvm-flags "$controller_flags" "${storm_args[@]}" "${extra_storm[@]}" | tee -a "$summaries"

echo
echo "== summary of this run ($machine; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
printf '%-22s %-12s %-42s %3s %9s %21s %9s %s\n' benchmark mode figure n median spread goal verdict
# SUMMARY lines: benchmark mode=M figure="F" n=N median=X min=A max=B goal="G" verdict=V
sed -n 's/^SUMMARY \([^ ]*\) mode=\([^ ]*\) figure="\([^"]*\)" n=\([0-9]*\) median=\([^ ]*\) min=\([^ ]*\) max=\([^ ]*\) goal="\([^"]*\)" verdict=\(.*\)$/\1|\2|\3|\4|\5|\6|\7|\8|\9/p' "$summaries" |
  while IFS='|' read -r bench mode figure n median min max goal verdict; do
    [[ $verdict == - ]] && verdict=
    spread=; [[ $n -gt 1 ]] && spread="$min - $max"
    printf '%-22s %-12s %-42s %3s %9s %21s %9s %s\n' "$bench" "$mode" "$figure" "$n" "$median" "$spread" "$goal" "$verdict"
  done
echo "Medians over the windows (load), storms (storm) or windows (agent) of this run. On a machine shared with"
echo "other work the figures are indicative; CPU is each process's own utime+stime, not the machine's load."
