#!/usr/bin/env bash
# Runs the benchmarks described in BENCHMARKS.md:
#   1. agent footprint: a real agent JVM, 1 s heartbeat, 50 test-driver domains; RSS and CPU against an idle JVM
#      started with the same flags;
#   2. controller under load: 1,000 simulated agents heartbeating at 1 Hz; controller CPU and heartbeat handling
#      time of the secure controller (mutual TLS, every agent enrolled with its own certificate) against the same
#      controller in plaintext test mode, and of that against a no-op registry;
#   3. reconnect storm: the controller killed and restarted under 1,000 connected agents; time until all are
#      registered and heartbeating again, controller CPU and TLS handshakes, TLS against plaintext.
# Each prints ratios against a baseline measured in the same run, because the machine is shared and noisy.
#
# usage: deploy/bench/run-benchmarks.sh [--quick] [--build | --no-build]
#   --quick     short windows (about 5 minutes in all instead of about 10)
#   --build     rebuild even if the build looks current; --no-build never builds
# Extra flags for each benchmark main can be passed in BENCH_AGENT_ARGS, BENCH_LOAD_ARGS and BENCH_STORM_ARGS,
# e.g. BENCH_AGENT_ARGS='--variant "x=-Xmx32m -XX:+UseSerialGC"' deploy/bench/run-benchmarks.sh --quick
# The simulated agents use the JDK's TLS, as real agents do (the controller uses BoringSSL, which it ships);
# BENCH_AGENTS_TLS=native gives them BoringSSL too, a stand-in for agents doing their half of every handshake
# on their own machines instead of on the controller's two vCPUs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

quick=0
build=auto
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --build) build=yes ;;
    --no-build) build=no ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-benchmarks: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
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

if [[ $quick == 1 ]]; then
  agent_args=(--warmup 10s --measure 20s)
  load_args=(--warmup 15s --measure 20s)
  storm_args=(--storms 1 --settle 5s)
else
  # The controller JVM needs a longer warm-up: at 1,000 calls/s C2 is still compiling after 20 s.
  agent_args=(--warmup 20s --measure 60s)
  load_args=(--warmup 40s --measure 60s)
  storm_args=(--storms 2 --settle 10s)
fi

echo "== machine: $(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1)"
echo
echo "== 1. agent footprint"
eval "extra_agent=(${BENCH_AGENT_ARGS:-})"
timeout 600 java -cp "$CP" io.virtfleet.bench.AgentFootprintBench "${agent_args[@]}" \
  --agent-classpath "$AGENT_CP" --bench-classpath controller/target/test-classes "${extra_agent[@]}"
echo
echo "== 2. controller under load"
eval "extra_load=(${BENCH_LOAD_ARGS:-})"
timeout 900 java "${loadgen_tls[@]}" -cp "$CP" io.virtfleet.bench.ControllerLoadBench "${load_args[@]}" "${extra_load[@]}"
echo
echo "== 3. reconnect storm"
eval "extra_storm=(${BENCH_STORM_ARGS:-})"
timeout 600 java "${loadgen_tls[@]}" -cp "$CP" io.virtfleet.bench.ReconnectStormBench "${storm_args[@]}" "${extra_storm[@]}"
