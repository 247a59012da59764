package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;

import io.virtfleet.controller.scheduler.Capacity;
import io.virtfleet.controller.scheduler.Claim;
import io.virtfleet.controller.scheduler.ClaimBook;
import io.virtfleet.controller.scheduler.Decision;
import io.virtfleet.controller.scheduler.Explanation;
import io.virtfleet.controller.scheduler.Fleets;
import io.virtfleet.controller.scheduler.HostSnapshot;
import io.virtfleet.controller.scheduler.Policy;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.proto.v1.StorageTier;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Capacity and placement with the N+1 reserve on the generated fleets of {@link PlacementBench} (seed 7), one
 * thread. Two schedulers hold the same hosts and the same claims, one without the reserve, one keeping it
 * ({@code n-plus-one = on}).
 *
 * <ul>
 *   <li>{@code place} and {@code placeNPlusOne}: a whole decision as {@code vm create} makes it (the winner
 *       claimed, then released so the fleet stays the same), requests cycling through 1,024 random LAN VMs;
 *       without the reserve: the baseline. Goal at 10,000 hosts: ≥ 20,000 decisions/s keeping the reserve.</li>
 *   <li>{@code capacity} and {@code capacityNPlusOne}: {@code virtfleet capacity} for an ssd VM of {@code spec}
 *       (8 GiB and 4 vCPUs unless given), without and with the reserve (which plays the decisions, a few at once
 *       while the reserve's units vouch, one by one after that: the smaller the VM, the more). Baseline:
 *       {@code explain}, placement's answer for every host of the same request ({@code place --explain}).
 *       Goal at 10,000 hosts: ≤ 50 ms.</li>
 * </ul>
 *
 * <p>{@code fill}: {@code third}, 3 VMs per host placed by the scheduler without the reserve (as
 * {@link PlacementBench}); {@code limit}, then as many more as the reserve lets in, until 100 requests in a row are
 * refused, so decisions are taken where the reserve binds.
 *
 * <p>Run: {@code deploy/bench/run-capacity-bench.sh}.
 */
@State(Scope.Thread)
// The controller's collector (deploy/systemd/virtfleet-controller.service): a young generation used over and over,
// so a count's arrays land on memory already mapped. Under G1 without pre-touching, the first passes over a heap of
// fresh pages cost page faults that doubled a count's time on a small VM (BENCHMARKS.md §12).
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseSerialGC"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class CapacityBench {
    @Param({"1000", "10000"})
    int hosts;

    @Param({"third", "limit"})
    String fill;

    private Scheduler plain;
    private Scheduler reserve;
    private Request[] requests;
    /**
     * The VM counted by {@code capacity}, {@code capacityNPlusOne} and {@code explain}: memory in GiB, then vCPUs
     * ({@code 8g4}: 8 GiB, 4 vCPUs; {@code 0.5g1}: 512 MiB, 1 vCPU), ssd. The decisions do not use it.
     */
    @Param({"8g4"})
    String spec;

    private Request probe;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = spec.split("g");
        probe = new Request("probe", (long) (Double.parseDouble(parts[0]) * GIB), Integer.parseInt(parts[1]),
                StorageTier.STORAGE_TIER_SSD, 50 * GIB, null, null, null);
        List<HostSnapshot> fleet = Fleets.random(hosts, 7);
        plain = new Scheduler(Policy.defaults(), Map.of(), ClaimBook.inMemory(), System::currentTimeMillis);
        reserve = new Scheduler(Policy.defaults().withNPlusOne(true), Map.of(), ClaimBook.inMemory(), System::currentTimeMillis);
        fleet.forEach(plain::update);
        fleet.forEach(reserve::update);
        Random rnd = new Random(11);
        for (int i = 0; i < hosts * 3; i++) {
            Decision d = plain.place(Fleets.randomVm("existing" + i, rnd));
            if (d.placed()) {
                reserve.restore(asRequest(d.claim()), d.claim().host());
            }
        }
        if (fill.equals("limit")) {
            int refusedInARow = 0;
            for (int i = 0; refusedInARow < 100; i++) {
                Decision d = reserve.place(Fleets.randomVm("more" + i, rnd));
                if (d.placed()) {
                    plain.restore(asRequest(d.claim()), d.claim().host());
                    refusedInARow = 0;
                } else {
                    refusedInARow++;
                }
            }
        }
        requests = new Request[1024];
        for (int i = 0; i < requests.length; i++) {
            requests[i] = Fleets.randomVm("new" + i, rnd);
        }
        System.out.printf("%n%d hosts, %s: %d claims; capacity for the probe (8 GiB, 4 vCPUs, ssd): %d without the"
                + " reserve%n", hosts, fill, plain.claims().size(), plain.capacity(probe, false).total());
    }

    private static Request asRequest(Claim c) {
        return new Request(c.vmName(), c.memoryBytes(), c.vcpus(), c.storage(), c.rawBytes(), null, c.spreadGroup(), null);
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public Object place() {
        return decide(plain);
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public Object placeNPlusOne() {
        return decide(reserve);
    }

    private Decision decide(Scheduler s) {
        Request r = requests[next++ & 1023];
        Decision d = s.place(r);
        if (d.placed()) {
            s.release(r.vmName());
        }
        return d;
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public Capacity capacity() {
        return plain.capacity(probe, false);
    }

    /**
     * One count a shot (a shot is what an operator waits for; tens of milliseconds at 10,000 hosts), after enough
     * shots for the JIT to have compiled the count: the first few take several times as long.
     */
    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 60)
    @Measurement(iterations = 30)
    public Capacity capacityNPlusOne() {
        // The thread's own CPU time and page faults besides the wall time: on a machine shared with other work the
        // wall time parts from the CPU time; memory touched for the first time shows as faults.
        long cpu = THREADS.getCurrentThreadCpuTime();
        long faults = minorFaults();
        // Counted on the scheduler without the policy: a count keeping the reserve runs the same code either way.
        Capacity c = plain.capacity(probe, true);
        System.out.printf(" [%d VMs keeping the reserve, %.1f ms of CPU, %d page faults]", c.total(),
                (THREADS.getCurrentThreadCpuTime() - cpu) / 1e6, minorFaults() - faults);
        return c;
    }

    /** The calling thread's minor page faults so far (Linux), -1 where that cannot be read. */
    private static long minorFaults() {
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/stat"));
            // After the command's name in parentheses: state, ppid, pgrp, session, tty, tpgid, flags, minflt.
            return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[7]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public Explanation explain() {
        return plain.explain(probe);
    }
}
