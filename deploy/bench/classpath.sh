# Sourced by the benchmark scripts (from the repository's root): builds the controller with its test classes
# (offline first, online if something is missing), sets CP to the class path the benchmark mains run with and
# prints the machine.
# The project's own modules come from this work tree's target/, never from ~/.m2.
CLASSPATH_FILE=controller/target/bench.classpath
mvn_args=(-B -q -DskipTests -pl controller -am package dependency:build-classpath
          -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test)
mvn -o "${mvn_args[@]}" || mvn "${mvn_args[@]}"
CP="controller/target/test-classes:controller/target/classes:$(cat "$CLASSPATH_FILE")"
# Every result is read against the machine it ran on: how many vCPUs, how busy, which JVM.
echo "== machine: $(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1)"
