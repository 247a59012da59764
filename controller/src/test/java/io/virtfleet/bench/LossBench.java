package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;

import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Durations;
import io.virtfleet.controller.fencing.HostLoss;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.testkit.MoveFleet;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FenceKind;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.UnfenceHostRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;
import org.libvirt.LibvirtException;

/**
 * The loss-to-running figure (BENCHMARKS.md §14): the time from a host's loss to its VM running on another
 * host, split into detection, fencing and start, at the default settings and at the fastest safe settings, against
 * a plain libvirt start of the same domain on the new host measured in the same run.
 *
 * <p>One {@link MoveFleet} per setting, as {@code HostLossRealFleetTest} has it: three hypervisors in network
 * namespaces on underlay 10.249.26.0/24 with real libvirtds (QEMU/TCG), real agent JVMs, a real single-node Ceph, the
 * controller in a JVM of its own with automatic failover and a cephx user that may only change the blocklist. Per
 * round a new VM (256 MiB, 1 GiB ssd disk on Ceph, replicated) is created on hv1 (hv2 and hv3 drained meanwhile);
 * then hv1 is lost: its cable cut, its agent and the VM's QEMU frozen (SIGSTOP). The moments are the system's own:
 * the loss is the bench's clock just before the cut; the end of detection is the controller's log line suspecting
 * hv1, the end of fencing its line saying hv1 is fenced in Ceph (blocklist added and verified, the verdict recorded),
 * the end of the start its line saying the VM was started on its new host (libvirt's start returned there). The bench
 * then checks the VM's QEMU there runs (CPU time growing). The log has millisecond timestamps; the bench shares the
 * machine's clock.
 *
 * <p>The baseline: the same VM, stopped through the Fleet API on its new host, is started there by a plain libvirt
 * {@code create} (what {@code virsh start} does once someone decided), timed until it returns; then it is stopped
 * again. Between rounds hv1 comes back: processes resumed, cable mended, its stand-down awaited, the fence lifted.
 */
public final class LossBench {
    private static final String USAGE = "usage: LossBench [--rounds N] [--warmups N] [--settings defaults,fastest]\n"
            + "  (defaults 2, 1, defaults,fastest; a warm-up round per setting is measured and not counted; needs root and"
            + " the packages of deploy/dev/install-deps.sh)";
    private static final String UNDERLAY = "10.249.26";
    private static final String LOST = "hv1";
    private static final Duration CONVERGE = Duration.ofSeconds(180);
    /** The controller log's timestamp ({@code Logging}'s format), in the machine's time zone. */
    private static final DateTimeFormatter LOG_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS", Locale.ROOT);

    /** Heartbeat, unreachable-after and host-lost-after of one measured setting. */
    record Setting(String name, Duration heartbeat, Duration unreachableAfter, Duration lostAfter) {
        String words() {
            return "heartbeat-interval " + Durations.shortText(heartbeat) + ", unreachable-after "
                    + Durations.shortText(unreachableAfter) + ", host-lost-after " + Durations.shortText(lostAfter)
                    + " (host-loss check every " + Durations.shortText(checkPeriod()) + ")";
        }

        /** As {@link HostLoss#start} schedules its checks. */
        Duration checkPeriod() {
            return Duration.ofMillis(Math.max(200, lostAfter.toMillis() / 6));
        }
    }

    /** The controller's defaults (ControllerMain: heartbeat-interval, unreachable-after; HostLoss: host-lost-after). */
    static final Setting DEFAULTS = new Setting("defaults", Duration.ofSeconds(5), Duration.ofSeconds(15),
            HostLoss.Settings.DEFAULT_LOST_AFTER);
    /** The fastest settings BENCHMARKS.md §14 argues are safe. */
    static final Setting FASTEST = new Setting("fastest", Duration.ofSeconds(1), Duration.ofSeconds(3),
            Duration.ofSeconds(10));

    /** One round's moments, in ms from the loss; {@code seenRunning} is when the bench's poll saw the new QEMU run. */
    record Round(String vm, String target, long suspected, long fenced, long started, long seenRunning, long baseline) {
        long detection() {
            return suspected;
        }

        long fencing() {
            return fenced - suspected;
        }

        long start() {
            return started - fenced;
        }
    }

    private LossBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("rounds", "warmups", "settings"), USAGE);
        int rounds = a.integer("rounds", 2);
        int warmups = a.integer("warmups", 1);
        List<Setting> settings = new ArrayList<>();
        for (String name : a.string("settings", "defaults,fastest").split(",")) {
            settings.add(switch (name) {
                case "defaults" -> DEFAULTS;
                case "fastest" -> FASTEST;
                default -> throw new IllegalArgumentException("--settings: \"" + name + "\" is not a setting; accepted:"
                        + " defaults, fastest (comma-separated)\n" + USAGE);
            });
        }
        Logging.configure(false);
        Map<Setting, List<Round>> results = new LinkedHashMap<>();
        Path work = Files.createTempDirectory("loss-bench");
        try {
            for (Setting s : settings) {
                results.put(s, measure(work.resolve(s.name()), s, warmups, rounds));
            }
        } finally {
            Bench.deleteTree(work);
        }
        for (Map.Entry<Setting, List<Round>> e : results.entrySet()) {
            List<Round> r = e.getValue();
            long total = median(r, Round::started);
            long baseline = median(r, Round::baseline);
            System.out.printf(Locale.ROOT, "RESULT loss setting=%s heartbeat_ms=%d unreachable_after_ms=%d"
                            + " host_lost_after_ms=%d median_total_ms=%d median_detection_ms=%d median_fencing_ms=%d"
                            + " median_start_ms=%d median_seen_running_ms=%d median_baseline_ms=%d"
                            + " ratio_total_to_baseline=%.1f ratio_start_to_baseline=%.2f totals=%s%n",
                    e.getKey().name(), e.getKey().heartbeat().toMillis(), e.getKey().unreachableAfter().toMillis(),
                    e.getKey().lostAfter().toMillis(), total, median(r, Round::detection), median(r, Round::fencing),
                    median(r, Round::start), median(r, Round::seenRunning), baseline, (double) total / baseline,
                    (double) median(r, Round::start) / baseline, r.stream().map(Round::started).toList());
        }
        if (results.containsKey(DEFAULTS) && results.containsKey(FASTEST)) {
            System.out.printf(Locale.ROOT, "RESULT loss ratio_defaults_to_fastest=%.2f%n",
                    (double) median(results.get(DEFAULTS), Round::started) / median(results.get(FASTEST), Round::started));
        }
        if (results.containsKey(DEFAULTS)) {
            long worst = results.get(DEFAULTS).stream().mapToLong(Round::started).max().orElseThrow();
            System.out.printf(Locale.ROOT, "RESULT loss goal_45s_at_defaults=%s worst_total_ms=%d%n",
                    worst <= 45_000 ? "met" : "missed", worst);
        }
    }

    private static long median(List<Round> rounds, ToLongFunction<Round> value) {
        return Bench.percentile(rounds.stream().mapToLong(value).sorted().toArray(), 50);
    }

    /** One fleet at {@code s}: the warm-up rounds, then {@code rounds} counted ones. */
    private static List<Round> measure(Path dir, Setting s, int warmups, int rounds) throws Exception {
        System.out.println("== " + s.name() + ": " + s.words());
        List<Round> counted = new ArrayList<>();
        // The previous setting's fleet is closed, but the kernel deletes a namespace's devices (and so the route to the
        // underlay) a moment later, on a worker of its own: the next fleet's underlay waits for that.
        Await.until("the previous fleet's underlay " + UNDERLAY + ".0/24 gone", Duration.ofSeconds(60), () -> Command.of(
                "ip", "-4", "route", "show", "to", "match", UNDERLAY + ".1").runChecked().stdout().lines()
                .allMatch(l -> l.startsWith("default")));
        try (MoveFleet fleet = MoveFleet.start(dir, UNDERLAY, List.of("hv1", "hv2", "hv3"), s.heartbeat(),
                s.unreachableAfter(), CONVERGE, what -> System.out.println("  " + what),
                rack -> automaticFailover(rack, dir, s.lostAfter()))) {
            Path controllerLog = dir.resolve("controller.log");
            for (int i = 0; i < warmups + rounds; i++) {
                Round r;
                try {
                    r = once(fleet, controllerLog, s.name().substring(0, 3) + i);
                } catch (Exception | AssertionError e) {
                    System.out.println(fleet.controller().logTail(60));
                    throw e;
                }
                boolean warmup = i < warmups;
                if (!warmup) {
                    counted.add(r);
                }
                System.out.printf(Locale.ROOT, "%s %s: %s on %s running %d ms after the loss: detection %d ms, fencing"
                                + " %d ms, start %d ms (seen running by the poll at %d ms); baseline libvirt start %d ms%n",
                        s.name(), warmup ? "warm-up" : "round " + (i - warmups + 1), r.vm(), r.target(), r.started(),
                        r.detection(), r.fencing(), r.start(), r.seenRunning(), r.baseline());
            }
        }
        return counted;
    }

    /** A VM on hv1, hv1 lost, the VM running elsewhere, the baseline, then hv1 back and unfenced. */
    private static Round once(MoveFleet fleet, Path controllerLog, String name) throws Exception {
        FleetGrpc.FleetBlockingStub operator = fleet.operator();
        HypervisorRack rack = fleet.rack();
        draining(operator, "hv2", true);
        draining(operator, "hv3", true);
        VmSpec spec = VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(256 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(true).build();
        try {
            operator.withDeadlineAfter(3, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                    .forEachRemaining(p -> { });
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
                throw e;
            }
            // hv1 is back and ready, but the controller's call went out on its connection from before the cut, which
            // its keepalive finds dead only then: the VM is recorded on hv1 and the reconciler finishes it (awaited).
            System.out.println("  " + name + " created, its first step on " + LOST + " failed: " + e.getStatus()
                    .getDescription());
        } finally {
            draining(operator, "hv2", false);
            draining(operator, "hv3", false);
        }
        if (!vm(operator, name).getHomeHost().equals(LOST)) {
            throw new AssertionError(name + " was placed on " + vm(operator, name).getHomeHost() + ", not " + LOST);
        }
        fleet.await(name + " runs on " + LOST, CONVERGE, () -> cpuTime(rack, LOST, name) > 0);
        String stoodDownBefore = host(operator, LOST).getReport().getStoodDownCommit();

        long qemu = Long.parseLong(Files.readString(rack.host(LOST).node().dir().resolve("run").resolve("qemu")
                .resolve(name + ".pid")).strip());
        long agent = rack.agent(LOST).pid();
        long loss = System.currentTimeMillis();
        rack.cut(LOST);
        Command.of("kill", "-STOP", Long.toString(agent)).runChecked();
        Command.of("kill", "-STOP", Long.toString(qemu)).runChecked();
        Round round;
        try {
            fleet.await(LOST + " fenced in Ceph and " + name + " recorded on another host", CONVERGE, () ->
                    host(operator, LOST).getState() == HostState.HOST_STATE_FENCED
                            && !vm(operator, name).getHomeHost().equals(LOST));
            String target = vm(operator, name).getHomeHost();
            fleet.await(name + " runs on " + target, CONVERGE, () -> cpuTime(rack, target, name) > 0);
            long seen = System.currentTimeMillis() - loss;
            long there = cpuTime(rack, target, name);
            fleet.await(name + "'s CPU time grows on " + target, CONVERGE, () -> cpuTime(rack, target, name) > there);
            Host fenced = host(operator, LOST);
            if (fenced.getFence().getKind() != FenceKind.FENCE_KIND_CEPH
                    || !rack.ceph().ceph("osd", "blocklist", "ls").stdout().contains(rack.host(LOST).address() + ":0/0")) {
                throw new AssertionError(LOST + " is not on Ceph's blocklist: " + fenced.getFence());
            }
            long suspected = logged(controllerLog, loss, "host " + LOST + " is suspected lost");
            long fencedAt = logged(controllerLog, loss, "host " + LOST + " fenced in Ceph");
            long started = logged(controllerLog, loss, "failover of " + LOST + ": " + name + " started");
            round = new Round(name, target, suspected - loss, fencedAt - loss, started - loss, seen,
                    baseline(fleet, target, name));
        } finally {
            Command.of("kill", "-CONT", Long.toString(qemu)).run();
            Command.of("kill", "-CONT", Long.toString(agent)).run();
            rack.mend(LOST);
        }
        comeBack(fleet, name, stoodDownBefore);
        return round;
    }

    /**
     * The VM stopped through the Fleet API on {@code target}, then started there by a plain libvirt {@code create},
     * timed until it returns (libvirt returns once the vCPUs run); then checked running and stopped again, as it is
     * recorded. The guest boots nothing and ignores ACPI, so the stop is hastened by destroying the domain meanwhile.
     */
    private static long baseline(MoveFleet fleet, String target, String name) throws Exception {
        FleetGrpc.FleetBlockingStub operator = fleet.operator();
        HypervisorRack rack = fleet.rack();
        CompletableFuture<Vm> stop = CompletableFuture.supplyAsync(() -> operator.withDeadlineAfter(3, TimeUnit.MINUTES)
                .setVmRunning(SetVmRunningRequest.newBuilder().setName(name).setRunning(false).build()));
        fleet.await(name + " stopped on " + target, CONVERGE, () -> {
            destroy(rack, target, name);
            return stop.isDone() && cpuTime(rack, target, name) < 0;
        });
        stop.join();
        long ms;
        Connect c = rack.host(target).libvirt();
        try {
            Domain d = c.domainLookupByName(name);
            long t0 = System.nanoTime();
            d.create();
            ms = (System.nanoTime() - t0) / 1_000_000;
        } finally {
            c.close();
        }
        long first = cpuTime(rack, target, name);
        fleet.await(name + " started by libvirt runs on " + target, CONVERGE,
                () -> cpuTime(rack, target, name) > Math.max(0, first));
        destroy(rack, target, name); // stopped, as the VM is now recorded
        return ms;
    }

    /** hv1 back: its stand-down after the failover's commit, the fence lifted, hv1 ready. */
    private static void comeBack(MoveFleet fleet, String name, String stoodDownBefore) throws InterruptedException {
        FleetGrpc.FleetBlockingStub operator = fleet.operator();
        fleet.await(LOST + " stood down", CONVERGE, () -> {
            Host hv1 = host(operator, LOST);
            return !hv1.getReport().getStoodDownCommit().equals(stoodDownBefore)
                    && hv1.getReport().getStandDownError().isEmpty();
        });
        if (cpuTime(fleet.rack(), LOST, name) >= 0) {
            throw new AssertionError(name + " still runs on " + LOST + " after its stand-down");
        }
        fleet.await(LOST + " unfenced", CONVERGE, () -> {
            try {
                return !operator.withDeadlineAfter(60, TimeUnit.SECONDS)
                        .unfenceHost(UnfenceHostRequest.newBuilder().setName(LOST).build()).hasFence();
            } catch (StatusRuntimeException refused) {
                return false; // e.g. not heard from yet since the cable came back: asked again
            }
        });
        fleet.await(LOST + " ready", CONVERGE, () -> host(operator, LOST).getState() == HostState.HOST_STATE_READY);
    }

    /**
     * The time (Unix ms) of the first line of the controller's log at or after {@code after} that contains {@code what}.
     */
    static long logged(Path log, long after, String what) throws IOException {
        OptionalLong at = firstAfter(Files.readAllLines(log), after, what, ZoneId.systemDefault());
        return at.orElseThrow(() -> new AssertionError("the controller's log has no \"" + what + "\" since the loss"));
    }

    static OptionalLong firstAfter(List<String> lines, long after, String what, ZoneId zone) {
        for (String line : lines) {
            if (line.length() < 23 || !line.contains(what)) {
                continue;
            }
            long at;
            try {
                at = LocalDateTime.parse(line.substring(0, 23), LOG_TIME).atZone(zone).toInstant().toEpochMilli();
            } catch (DateTimeParseException notALogLine) {
                continue;
            }
            if (at >= after) { // both in whole milliseconds of the same clock
                return OptionalLong.of(at);
            }
        }
        return OptionalLong.empty();
    }

    /** The controller's settings: the fencing user limited to the blocklist, automatic failover after {@code lostAfter}. */
    private static Map<String, String> automaticFailover(HypervisorRack rack, Path dir, Duration lostAfter) {
        Path keyring = dir.resolve("ceph.client.virtfleet-fence.keyring");
        Command.Result user = rack.ceph().ceph("auth", "get-or-create", "client.virtfleet-fence", "mon",
                "allow command \"osd blocklist\", allow command \"osd blocklist ls\"", "-o", keyring.toString());
        if (user.exitCode() != 0) {
            throw new AssertionError("cannot make the fencing user: " + user.stderr());
        }
        return Map.of(ControllerJvm.FENCING, rack.ceph().conf() + "|virtfleet-fence|" + keyring,
                ControllerJvm.AUTOMATIC_FAILOVER, "automatic|" + lostAfter);
    }

    private static void draining(FleetGrpc.FleetBlockingStub operator, String host, boolean on) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(SetHostDrainingRequest.newBuilder().setName(host)
                .setDraining(on).build());
    }

    private static Host host(FleetGrpc.FleetBlockingStub operator, String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getHost(GetHostRequest.newBuilder().setName(name).build());
    }

    private static Vm vm(FleetGrpc.FleetBlockingStub operator, String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    /** The domain's CPU time while it runs on the host, -1 when it does not run there. */
    private static long cpuTime(HypervisorRack rack, String host, String vm) {
        try {
            Connect c = rack.host(host).libvirt();
            try {
                DomainInfo info = c.domainLookupByName(vm).getInfo();
                return info.state == DomainInfo.DomainState.VIR_DOMAIN_RUNNING ? info.cpuTime : -1L;
            } catch (LibvirtException notThere) {
                return -1L;
            } finally {
                c.close();
            }
        } catch (LibvirtException e) {
            throw new AssertionError(host + ": " + e.getMessage(), e);
        }
    }

    /** Destroys the domain on the host when it is active (kept defined). */
    private static void destroy(HypervisorRack rack, String host, String vm) {
        try {
            Connect c = rack.host(host).libvirt();
            try {
                Domain d = c.domainLookupByName(vm);
                if (d.isActive() == 1) {
                    d.destroy();
                }
            } catch (LibvirtException stoppedMeanwhile) {
                // not active any more, or not there: what was wanted
            } finally {
                c.close();
            }
        } catch (LibvirtException e) {
            throw new AssertionError(host + ": " + e.getMessage(), e);
        }
    }
}
