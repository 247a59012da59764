package io.virtfleet.bench;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.controller.testkit.MoveFleet;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.EvacuateHostRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A drain of a host with several running Ceph-backed VMs ({@code virtfleet host drain NAME --move}, the controller's
 * {@code Fleet.EvacuateHost}) against the same moves issued one after another through {@code Fleet.MoveVm}, on the
 * real controller, in the same run (BENCHMARKS.md §13). Also each {@code MoveVm}'s end-to-end time, split into what
 * comes before the migration, the migration as the source's agent times it, and what comes after, so the controller's
 * share of a move can be read against the agent's migration of §11.
 *
 * <p>Two hosts of {@link MoveFleet}: network namespaces on one underlay with real libvirtds listening on TLS with the
 * fleet CA's certificates, real agent JVMs, a real single-node Ceph, the controller in a JVM of its own. The VMs are
 * created through the controller with the other host drained, so all start on one host; each batch then moves all of
 * them to the other host, by one method, and the next batch brings them back by the next method: which method goes
 * first rotates from round to round, so none keeps a warmer cache to itself, and with two methods (the default) each
 * also alternates direction; with three, a method may keep one direction (the hosts are alike but for their names).
 * Before each batch the bench waits until every host is in step with the definitions and every VM is ready (events,
 * not time). A drain is timed from the EvacuateHost call to the end of its stream (the host is marked drained just
 * before, and undrained after); a move from the MoveVm call to its stream's end; a batch of moves from the first call
 * to the last end.
 *
 * <p>The guests boot nothing (the controller's VMs network-boot, and no install server is armed): each runs its
 * firmware's network boot loop, so little of its memory is written and a migration sends little more than its
 * touched pages.
 */
public final class DrainBench {
    private static final String USAGE = "usage: DrainBench [--vms N] [--rounds N] [--warmups N] [--memory MiB]"
            + " [--parallel N[,N...]] [--settle DURATION]\n"
            + "  (defaults 6, 3, 1, 256, 2, 3m; parallel: the drains' moves at once, 1 to 8, each measured as its own"
            + " method;\n  settle: how long to wait for the fleet to be in step before a batch; needs root)";
    private static final List<String> HOSTS = List.of("hv1", "hv2");
    private static final String UNDERLAY = "10.249.8";
    private static final Duration HEARTBEAT = Duration.ofMillis(250);
    private static final String SEQUENTIAL = "one after another";

    /** One move as the bench saw it: times in ms from the move's start (its call, or its first event in a drain). */
    record Move(String vm, long totalMs, long beforeMs, long migrationMs, long afterMs, long downtimeMs, long sentBytes) {}

    /** One batch: every VM moved off one host by one method. */
    record Batch(String method, String from, String to, long totalMs, List<Move> moves, boolean measured) {}

    private DrainBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("vms", "rounds", "warmups", "memory", "parallel", "settle"), USAGE);
        int vms = a.integer("vms", 6);
        int rounds = a.integer("rounds", 3);
        int warmups = a.integer("warmups", 1);
        long memory = a.integer("memory", 256) * Bytes.MIB;
        Duration settle = a.duration("settle", "3m");
        int[] parallels = Arrays.stream(a.string("parallel", "2").split(",")).mapToInt(s -> Integer.parseInt(s.trim()))
                .toArray();
        for (int p : parallels) {
            if (p < 1 || p > 8) {
                throw new IllegalArgumentException("--parallel takes 1 to 8 moves at once, not " + p + "\n" + USAGE);
            }
        }
        if (vms < 1 || rounds < 1 || warmups < 0) {
            throw new IllegalArgumentException("--vms and --rounds must be at least 1, --warmups at least 0\n" + USAGE);
        }
        List<String> methods = new ArrayList<>();
        for (int p : parallels) {
            methods.add(drainName(p));
        }
        methods.add(SEQUENTIAL);

        Path work = Files.createTempDirectory("vf-drain-bench");
        long t0 = System.nanoTime();
        List<Batch> batches = new ArrayList<>();
        String load0 = loadAverage();
        String loadEnd;
        try (MoveFleet fleet = MoveFleet.start(work, UNDERLAY, HOSTS, HEARTBEAT, Duration.ofMinutes(3),
                what -> System.out.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, what))) {
            FleetGrpc.FleetBlockingStub operator = fleet.operator();
            List<String> names = new ArrayList<>();
            for (int i = 1; i <= vms; i++) {
                names.add(String.format(Locale.ROOT, "vm%02d", i));
            }
            String here = HOSTS.get(0);
            String there = HOSTS.get(1);
            // Every VM on one host: the other takes none while they are created.
            draining(operator, there, true);
            for (String name : names) {
                // A host is judged degraded while its libvirtd answers too slowly (a busy machine): wait it out.
                awaitHostsUp(fleet, settle);
                create(operator, name, memory);
            }
            draining(operator, there, false);
            System.out.printf(Locale.ROOT, "[%6.1f s] %d VMs of %d MiB running on %s; load average %s%n",
                    (System.nanoTime() - t0) / 1e9, vms, memory / Bytes.MIB, here, loadAverage());
            for (int round = 1; round <= warmups + rounds; round++) {
                boolean measured = round > warmups;
                StringBuilder line = new StringBuilder("round " + round + (measured ? "" : " (warm-up)") + ":");
                for (int k = 0; k < methods.size(); k++) {
                    String method = methods.get((round - 1 + k) % methods.size());
                    awaitInStep(fleet, names, here, settle);
                    Batch b = method.equals(SEQUENTIAL) ? oneAfterAnother(operator, names, here, there, measured)
                            : drain(operator, here, there, parallel(method), names.size(), measured);
                    batches.add(b);
                    line.append(String.format(Locale.ROOT, "%n  %-22s %s to %s %7.1f s (moves %s s, downtime %s ms)",
                            b.method(), b.from(), b.to(), b.totalMs() / 1e3, spreadSeconds(b.moves()),
                            spread(b.moves().stream().mapToLong(Move::downtimeMs).toArray())));
                    String swap = here;
                    here = there;
                    there = swap;
                }
                System.out.println(line + "\n  load average " + loadAverage());
            }
            loadEnd = loadAverage();
        } finally {
            Bench.deleteTree(work);
        }
        report(methods, batches, vms, memory, load0, loadEnd);
    }

    private static String drainName(int parallel) {
        return "drain, " + parallel + " at a time";
    }

    private static int parallel(String drainMethod) {
        return Integer.parseInt(drainMethod.replaceAll("\\D", ""));
    }

    /** host drain NAME --move: drained, EvacuateHost to the end of its stream (timed), undrained. */
    private static Batch drain(FleetGrpc.FleetBlockingStub operator, String from, String to, int parallel, int vms,
                               boolean measured) {
        draining(operator, from, true);
        Map<String, long[]> seen = new LinkedHashMap<>(); // vm -> {first event, first migration event, PHASE_DONE, done}
        Map<String, MigrationProgress> finished = new HashMap<>();
        String left = null;
        long start = System.nanoTime();
        Iterator<VmProgress> events = operator.withDeadlineAfter(30, TimeUnit.MINUTES)
                .evacuateHost(EvacuateHostRequest.newBuilder().setName(from).setParallel(parallel).build());
        while (events.hasNext()) {
            VmProgress p = events.next();
            long now = System.nanoTime();
            if (p.getStep().equals("left")) {
                left = p.getDetail();
            }
            if (p.getVmName().isEmpty()) {
                continue;
            }
            if (p.getStep().equals("failed")) {
                throw new IllegalStateException("the drain of " + from + " failed to move " + p.getVmName() + ": "
                        + p.getDetail());
            }
            long[] t = seen.computeIfAbsent(p.getVmName(), k -> new long[] {now, 0, 0, 0});
            note(t, p, now, finished, p.getVmName());
        }
        long totalMs = (System.nanoTime() - start) / 1_000_000;
        draining(operator, from, false);
        if (left == null || !left.endsWith("runs no VM of the fleet now") || seen.size() != vms) {
            throw new IllegalStateException("the drain of " + from + " did not move all " + vms + " VMs: " + left);
        }
        List<Move> moves = new ArrayList<>();
        seen.forEach((vm, t) -> moves.add(move(vm, t, finished.get(vm))));
        return new Batch(drainName(parallel), from, to, totalMs, moves, measured);
    }

    /** The same moves through MoveVm, each to the end of its stream before the next; placement picks the target. */
    private static Batch oneAfterAnother(FleetGrpc.FleetBlockingStub operator, List<String> names, String from, String to,
                                         boolean measured) {
        List<Move> moves = new ArrayList<>();
        long start = System.nanoTime();
        for (String vm : names) {
            long call = System.nanoTime();
            long[] t = {call, 0, 0, 0};
            Map<String, MigrationProgress> finished = new HashMap<>();
            Iterator<VmProgress> events = operator.withDeadlineAfter(10, TimeUnit.MINUTES)
                    .moveVm(MoveVmRequest.newBuilder().setName(vm).build());
            VmProgress last = null;
            while (events.hasNext()) {
                last = events.next();
                note(t, last, System.nanoTime(), finished, vm);
            }
            t[3] = System.nanoTime(); // the stream's end, which follows its last event
            if (last == null || !last.getStep().equals("done") || !last.getHost().equals(to)) {
                throw new IllegalStateException("the move of " + vm + " did not end on " + to + ": " + last);
            }
            moves.add(move(vm, t, finished.get(vm)));
        }
        long totalMs = (System.nanoTime() - start) / 1_000_000;
        return new Batch(SEQUENTIAL, from, to, totalMs, moves, measured);
    }

    private static void note(long[] t, VmProgress p, long now, Map<String, MigrationProgress> finished, String vm) {
        if (p.hasMigration()) {
            if (t[1] == 0) {
                t[1] = now;
            }
            if (p.getMigration().getPhase() == MigrationProgress.Phase.PHASE_DONE) {
                t[2] = now;
                finished.put(vm, p.getMigration());
            }
        }
        if (p.getStep().equals("done")) {
            t[3] = now;
        }
    }

    private static Move move(String vm, long[] t, MigrationProgress done) {
        if (done == null || t[1] == 0 || t[2] == 0 || t[3] == 0) {
            throw new IllegalStateException("the move of " + vm + " reported no finished migration");
        }
        long total = (t[3] - t[0]) / 1_000_000;
        long before = (t[1] - t[0]) / 1_000_000;
        long after = (t[3] - t[2]) / 1_000_000;
        return new Move(vm, total, before, done.getElapsedMs(), after, done.getDowntimeMs(), done.getDataProcessedBytes());
    }

    private static void create(FleetGrpc.FleetBlockingStub operator, String name, long memory) {
        VmSpec spec = VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_SATA).setDiskBytes(Bytes.GIB)
                .setMemoryBytes(memory).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(true).build();
        VmProgress last = null;
        Iterator<VmProgress> steps = operator.withDeadlineAfter(5, TimeUnit.MINUTES)
                .createVm(CreateVmRequest.newBuilder().setSpec(spec).build());
        while (steps.hasNext()) {
            last = steps.next();
        }
        if (last == null || !last.getStep().equals("done")) {
            throw new IllegalStateException("creating " + name + " ended with " + last);
        }
    }

    private static void draining(FleetGrpc.FleetBlockingStub operator, String host, boolean draining) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(SetHostDrainingRequest.newBuilder().setName(host)
                .setDraining(draining).build());
    }

    /** Waits until every host heartbeats and its libvirtd answers (ready, or draining when drained). */
    private static void awaitHostsUp(MoveFleet fleet, Duration settle) throws InterruptedException {
        String[] last = {""};
        try {
            fleet.await("every host ready (or draining)", settle, () -> {
                List<io.virtfleet.proto.v1.Host> hosts = fleet.operator().withDeadlineAfter(10, TimeUnit.SECONDS)
                        .listHosts(io.virtfleet.proto.v1.ListHostsRequest.getDefaultInstance()).getHostsList();
                last[0] = hosts.stream().map(h -> h.getName() + " " + h.getState() + ": " + h.getStateReason()).toList()
                        .toString();
                return hosts.size() == HOSTS.size() && hosts.stream().allMatch(h -> h.getState() == HostState.HOST_STATE_READY
                        || h.getState() == HostState.HOST_STATE_DRAINING);
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlast seen: " + last[0], e);
        }
    }

    /**
     * Waits until every host is up ({@link #awaitHostsUp}) and in step with the definitions, and every VM is ready on
     * {@code home}.
     */
    private static void awaitInStep(MoveFleet fleet, List<String> names, String home, Duration settle)
            throws InterruptedException {
        awaitHostsUp(fleet, settle);
        FleetGrpc.FleetBlockingStub operator = fleet.operator();
        String[] last = {""};
        try {
            fleet.await("every host in step and every VM ready on " + home, settle, () -> {
                DriftReport drift = operator.withDeadlineAfter(10, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance());
                List<Vm> all = operator.withDeadlineAfter(10, TimeUnit.SECONDS).listVms(ListVmsRequest.getDefaultInstance())
                        .getVmsList();
                last[0] = drift.toString() + all.stream().map(v -> v.getSpec().getName() + " " + v.getHomeHost() + " "
                        + v.getPhase()).toList();
                return drift.getDriftsCount() == 0 && drift.getHostsList().stream().noneMatch(h -> h.getBehind())
                        && all.size() == names.size() && all.stream().allMatch(v -> v.getHomeHost().equals(home)
                        && v.getPhase() == VmPhase.VM_PHASE_READY);
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlast seen: " + last[0], e);
        }
    }

    private static void report(List<String> methods, List<Batch> batches, int vms, long memory, String load0,
                               String loadEnd) {
        System.out.printf(Locale.ROOT, "%n%d VMs of %d MiB off one host (seconds; per move: ms)%n", vms, memory / Bytes.MIB);
        System.out.printf(Locale.ROOT, "%-24s %6s %9s %13s %10s %13s %9s %9s %9s %9s%n", "method", "runs", "median s",
                "spread s", "move ms", "move spread", "before", "agent", "after", "downtime");
        Map<String, Long> medians = new LinkedHashMap<>();
        for (String method : methods) {
            List<Batch> mine = batches.stream().filter(b -> b.measured() && b.method().equals(method)).toList();
            long[] totals = mine.stream().mapToLong(Batch::totalMs).sorted().toArray();
            List<Move> moves = mine.stream().flatMap(b -> b.moves().stream()).toList();
            long[] perMove = sorted(moves.stream().mapToLong(Move::totalMs).toArray());
            long median = Bench.percentile(totals, 50);
            medians.put(method, median);
            System.out.printf(Locale.ROOT, "%-24s %6d %9.1f %13s %10d %13s %9d %9d %9d %9d%n", method, totals.length,
                    median / 1e3, String.format(Locale.ROOT, "%.1f-%.1f", totals[0] / 1e3, totals[totals.length - 1] / 1e3),
                    Bench.percentile(perMove, 50), spread(perMove),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::beforeMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::migrationMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::afterMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::downtimeMs).toArray()), 50));
            String key = method.equals(SEQUENTIAL) ? "sequential" : "drain_parallel" + parallel(method);
            System.out.printf(Locale.ROOT, "RESULT drain method=%s vms=%d memory_mib=%d total_ms=%d move_ms=%d before_ms=%d"
                            + " agent_ms=%d after_ms=%d downtime_ms=%d sent_mib=%d runs=%d%n", key, vms, memory / Bytes.MIB,
                    median, Bench.percentile(perMove, 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::beforeMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::migrationMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::afterMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::downtimeMs).toArray()), 50),
                    Bench.percentile(sorted(moves.stream().mapToLong(Move::sentBytes).toArray()), 50) / Bytes.MIB,
                    totals.length);
        }
        long sequential = medians.get(SEQUENTIAL);
        for (String method : methods) {
            if (!method.equals(SEQUENTIAL)) {
                System.out.printf(Locale.ROOT, "RATIO drain parallel%d/sequential=%.2f%n", parallel(method),
                        medians.get(method) / (double) sequential);
            }
        }
        System.out.println("(before: call to the first migration event; agent: the migration as the source's agent"
                + " times it; after: its last migration event to the move's end; downtime as libvirt reports it)");
        System.out.println("load average at the start " + load0 + ", at the end " + loadEnd);
    }

    private static long[] sorted(long[] values) {
        Arrays.sort(values);
        return values;
    }

    private static String spread(long[] values) {
        long[] v = sorted(values.clone());
        return v.length == 0 ? "-" : v[0] + "-" + v[v.length - 1];
    }

    private static String spreadSeconds(List<Move> moves) {
        long[] v = sorted(moves.stream().mapToLong(Move::totalMs).toArray());
        return String.format(Locale.ROOT, "%.1f-%.1f", v[0] / 1e3, v[v.length - 1] / 1e3);
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (java.io.IOException e) {
            return "(unknown: " + e.getMessage() + ")";
        }
    }
}
