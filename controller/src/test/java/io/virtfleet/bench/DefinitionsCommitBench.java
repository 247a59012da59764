package io.virtfleet.bench;

import io.virtfleet.controller.definitions.DefinitionsRepo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A commit to the definitions repository as a VM create makes one (a record and a domain XML, here two files: one
 * new, one changed), in a repository already holding {@code vms} records: how its cost grows with the fleet. The
 * baseline is the same commit at 10 VMs, in the same run. Real JGit on the real disk, fsyncs included.
 * {@code seed}: the time to commit all the records at once, in the set-up (printed).
 *
 * <p>Run: {@code deploy/bench/run-commit-bench.sh}.
 */
@State(Scope.Thread)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m", "-XX:+UseSerialGC"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class DefinitionsCommitBench {
    @Param({"10", "10000"})
    int vms;

    private Path dir;
    private DefinitionsRepo repo;
    private int next;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("virtfleet-commit-bench");
        repo = DefinitionsRepo.open(dir.resolve("defs"));
        Map<String, byte[]> records = new LinkedHashMap<>();
        for (int i = 0; i < vms; i++) {
            records.put("vms/vm" + i + ".json", ("{\"name\":\"vm" + i + "\",\"home_host\":\"hv" + i % 97 + "\"}\n").getBytes());
        }
        long start = System.nanoTime();
        repo.commit("seed", "", records, Set.of());
        System.out.printf("%nseeded %d records in one commit: %.0f ms%n", vms, (System.nanoTime() - start) / 1e6);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        repo.close();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public String commitTwoFiles() throws IOException {
        int n = next++;
        return repo.commit("create new" + n, "alice", Map.of(
                "vms/new" + n + ".json", ("{\"name\":\"new" + n + "\"}\n").getBytes(),
                "vms/vm" + n % vms + ".json", ("{\"name\":\"vm" + n % vms + "\",\"changed\":" + n + "}\n").getBytes()),
                Set.of());
    }
}
