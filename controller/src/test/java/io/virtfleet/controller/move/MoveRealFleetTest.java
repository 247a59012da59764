package io.virtfleet.controller.move;

import io.virtfleet.controller.testkit.CliRun;
import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.testkit.MoveFleet;
import io.virtfleet.proto.v1.CancelMoveRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;
import org.libvirt.LibvirtException;

/**
 * {@code virtfleet vm move} and {@code host drain --move} on real components ({@link MoveFleet}): three simulated
 * hypervisors (network namespaces on one underlay, real libvirtds listening on TLS, real agent JVMs), a real
 * single-node Ceph, the controller in a JVM of its own. The libvirtds' certificates come from the fleet CA (made
 * before the controller starts, in its data directory), and each agent installs the client certificate the
 * controller issues it: the migrations are the fleet's own, over TLS. The guests boot nothing (no OS image); a running QEMU whose CPU time grows
 * is the proof that the VM runs.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MoveRealFleetTest {
    private static final List<String> HOSTS = List.of("hv1", "hv2", "hv3");
    private static final String UNDERLAY = "10.249.7";
    private static final Duration HEARTBEAT = Duration.ofMillis(250);
    private static final Duration CONVERGE = Duration.ofSeconds(90);

    @TempDir
    static Path work;

    private static MoveFleet fleet;
    private static HypervisorRack rack;
    private static ControllerJvm.Settings settings;
    private static ControllerJvm controller;
    private static FleetGrpc.FleetBlockingStub operator;

    @BeforeAll
    static void threeHypervisorsOnTlsCephAndAController() throws Exception {
        fleet = MoveFleet.start(work, UNDERLAY, HOSTS, HEARTBEAT, CONVERGE, MoveRealFleetTest::lap);
        rack = fleet.rack();
        settings = fleet.settings();
        controller = fleet.controller();
        operator = fleet.operator();
        lap("fleet ready");
    }

    @AfterAll
    static void stopEverything() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    @Order(1)
    void aRunningCephVmMovesLiveAndItsRecordReplicasAndDriftFollow() throws Exception {
        String from = home(create(spec("web", StorageTier.STORAGE_TIER_SATA, GIB)));
        long cpuBefore = cpuTime(from, "web");

        List<VmProgress> steps = move("web", null);
        lap("moved web: " + describe(steps));
        String to = vm("web").getHomeHost();
        assertNotEquals(from, to);
        assertEquals("placed", steps.get(0).getStep());
        assertTrue(steps.stream().anyMatch(p -> p.hasMigration()
                && p.getMigration().getPhase() == MigrationProgress.Phase.PHASE_DONE), describe(steps));
        assertEquals("done", steps.get(steps.size() - 1).getStep(), describe(steps));
        String third = HOSTS.stream().filter(h -> !h.equals(from) && !h.equals(to)).findFirst().orElseThrow();
        assertTrue(steps.stream().noneMatch(p -> p.getHost().equals(third)),
                "the move waits on its two hosts only, " + third + " catches up by itself: " + describe(steps));

        assertTrue(active(to, "web"), "web runs on its new home " + to);
        long cpuAfter = cpuTime(to, "web");
        await("web's guest keeps executing on " + to, () -> cpuTime(to, "web") > cpuAfter);
        assertFalse(active(from, "web"), "web no longer runs on " + from);
        assertTrue(cpuBefore > 0);
        // The old home keeps web as a replica: defined, shut off, autostart off.
        await(from + " holds web as a replica (autostart off)", () -> autostart(from, "web").equals(Boolean.FALSE));
        assertFalse(autostart(to, "web"), "libvirt's own autostart stays off on the new home too");
        await("the new home's agent starts web with the host", () -> operator.withDeadlineAfter(10, TimeUnit.SECONDS)
                .getHost(io.virtfleet.proto.v1.GetHostRequest.newBuilder().setName(to).build()).getReport()
                .getDomainsList().stream().anyMatch(d -> d.getName().equals("web") && d.getAutostart()));
        assertTrue(vm("web").getReplicaHostsList().contains(from), vm("web").toString());

        List<VmEvent> history = operator.withDeadlineAfter(10, TimeUnit.SECONDS)
                .getVmHistory(GetVmRequest.newBuilder().setName("web").build()).getEventsList();
        VmEvent last = history.get(history.size() - 1);
        assertTrue(last.getMessage().startsWith("move web from " + from + " to " + to), last.getMessage());
        assertEquals("admin", last.getOperator());
        awaitNoDrift();
    }

    @Test
    @Order(2)
    void aRawDiskVmMovesWithItsDiskAndTheCopyIsTheSame() throws Exception {
        String from = home(create(spec("db", StorageTier.STORAGE_TIER_RAW, GIB).setReplicated(false)));
        Path source = rack.host(from).stateDir().resolve("images").resolve("db.img");
        assertTrue(Files.isRegularFile(source), source.toString());
        // A pattern in the disk (the guest has no OS and never writes to it), so the copy has something to match.
        byte[] pattern = new byte[4 * (int) MIB];
        new java.util.Random(7).nextBytes(pattern);
        try (var ch = java.nio.channels.FileChannel.open(source, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(pattern), 8 * MIB);
        }
        String before = sha256(source);
        String to = HOSTS.stream().filter(h -> !h.equals(from)).findFirst().orElseThrow();

        List<VmProgress> steps = move("db", to);
        lap("moved db: " + describe(steps));
        assertEquals(to, vm("db").getHomeHost());
        assertTrue(steps.stream().anyMatch(p -> p.getStep().equals("disk") && p.getHost().equals(to)), describe(steps));
        Path copy = rack.host(to).stateDir().resolve("images").resolve("db.img");
        assertEquals(before, sha256(copy), "the target's disk holds what the source's held");
        assertTrue(active(to, "db"));
        assertFalse(Files.exists(source), "the old copy is removed from " + from);
        assertFalse(defined(from, "db"), "db is no longer defined on " + from);
    }

    @Test
    @Order(3)
    void aMoveCancelledInFlightLeavesTheVmRunningWhereItWasWithNothingChanged() throws Exception {
        String from = home(create(spec("big", StorageTier.STORAGE_TIER_SSD, GIB).setMemoryBytes(GIB)));
        List<VmProgress> seen = new ArrayList<>();
        CompletableFuture<String> cancelled = new CompletableFuture<>();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
                operator.moveVm(MoveVmRequest.newBuilder().setName("big").build()).forEachRemaining(p -> {
                    seen.add(p);
                    if (p.hasMigration() && p.getMigration().getPhase() == MigrationProgress.Phase.PHASE_COPYING_MEMORY
                            && !cancelled.isDone()) {
                        // A second move of big is refused at once, and its hang-up does not stop the first one.
                        StatusRuntimeException second = assertThrows(StatusRuntimeException.class, () -> move("big", null));
                        assertEquals(Status.Code.FAILED_PRECONDITION, second.getStatus().getCode(), second.getStatus().toString());
                        assertTrue(second.getStatus().getDescription().startsWith("big is being moved to "),
                                second.getStatus().toString());
                        cancelled.complete(operator.withDeadlineAfter(10, TimeUnit.SECONDS)
                                .cancelMove(CancelMoveRequest.newBuilder().setName("big").build()).getDetail());
                    }
                }));
        lap("cancelled: " + cancelled.getNow("(not)") + "; " + e.getStatus());
        assertTrue(cancelled.isDone(), "the cancel was sent during the memory copy: " + e.getStatus() + describe(seen));
        assertTrue(e.getStatus().getDescription().contains("still runs on " + from), e.getStatus().toString());
        assertEquals(from, vm("big").getHomeHost(), "the record still names " + from);
        assertTrue(active(from, "big"));
        for (String h : HOSTS) {
            if (!h.equals(from)) {
                assertFalse(active(h, "big"), "big does not run on " + h);
            }
        }
        awaitNoDrift();
    }

    @Test
    @Order(4)
    void aDrainMovesEveryVmOffItsHostAndASecondRunHasNothingToDo() throws Exception {
        String host = vm("big").getHomeHost();
        List<String> vms = operator.withDeadlineAfter(5, TimeUnit.SECONDS).listVms(io.virtfleet.proto.v1.ListVmsRequest.getDefaultInstance())
                .getVmsList().stream().filter(v -> v.getHomeHost().equals(host)).map(v -> v.getSpec().getName()).toList();
        CliRun first = cli("host", "drain", host, "--move", "--parallel", "2");
        lap("drain " + host + " (" + vms + "):\n" + first.out() + first.err());
        assertEquals(ExitCode.OK, first.code(), first.out() + first.err());
        assertTrue(first.out().contains(host + " runs no VM of the fleet now"), first.out());
        for (String v : vms) {
            assertNotEquals(host, vm(v).getHomeHost(), v + " left " + host);
            assertTrue(active(vm(v).getHomeHost(), v), v + " runs on its new home");
        }
        CliRun again = cli("host", "drain", host, "--move");
        assertEquals(ExitCode.OK, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("0 VMs to move off " + host), again.out());
        assertEquals(ExitCode.OK, cli("host", "undrain", host).code());
        awaitNoDrift();
    }

    @Test
    @Order(5)
    void aRawDiskMoveWhoseTargetDiesMidWayLeavesTheVmOnItsSourceAndNothingOnTheTarget() throws Exception {
        String from = home(create(spec("cache", StorageTier.STORAGE_TIER_RAW, GIB).setMemoryBytes(GIB).setReplicated(false)));
        String to = HOSTS.stream().filter(h -> !h.equals(from)).findFirst().orElseThrow();
        Map<String, String> roomBefore = room();
        Path targetDisk = rack.host(to).stateDir().resolve("images").resolve("cache.img");
        List<VmProgress> seen = new ArrayList<>();
        boolean[] killed = {false};
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> operator
                .withDeadlineAfter(4, TimeUnit.MINUTES)
                .moveVm(MoveVmRequest.newBuilder().setName("cache").setToHost(to).build()).forEachRemaining(p -> {
                    seen.add(p);
                    if (p.hasMigration() && (p.getMigration().getPhase() == MigrationProgress.Phase.PHASE_COPYING_MEMORY
                            || p.getMigration().getPhase() == MigrationProgress.Phase.PHASE_COPYING_DISK) && !killed[0]) {
                        killed[0] = true;
                        // The target dies: its agent first (nothing there answers the controller), then its libvirtd.
                        rack.killAgent(to);
                        rack.host(to).node().killDaemon();
                        lap(to + "'s agent and libvirtd killed at " + p.getDetail());
                    }
                }));
        lap("move of cache: " + e.getStatus() + describe(seen));
        assertTrue(killed[0], "the target died mid-way" + describe(seen));
        assertTrue(e.getStatus().getDescription().contains("cache still runs on " + from + "; its record unchanged"),
                e.getStatus().toString());
        assertEquals(from, vm("cache").getHomeHost(), "the record still names " + from);
        assertTrue(active(from, "cache"), "cache runs on " + from);
        assertTrue(Files.exists(targetDisk), "the disk made on " + to + " cannot be deleted while it is down");
        assertTrue(vm("cache").getMovePending().contains("on " + to), vm("cache").getMovePending());

        rack.host(to).node().startDaemon();
        rack.startAgent(to);
        await("the disk made on " + to + " deleted once it is back", () -> !Files.exists(targetDisk));
        await("the move's note ended", () -> vm("cache").getMovePending().isEmpty());
        assertFalse(defined(to, "cache"), "nothing of cache on " + to);
        assertTrue(active(from, "cache"), "cache still runs on " + from);
        await("the claims as before the move", () -> room().equals(roomBefore));
        awaitNoDrift();
    }

    @Test
    @Order(6)
    void aMoveWhoseSourceAgentDiesLeavingTheVmPausedIsGivenUpAndTheVmResumed() throws Exception {
        String from = home(create(spec("frozen", StorageTier.STORAGE_TIER_SATA, GIB).setMemoryBytes(GIB)));
        List<VmProgress> seen = new ArrayList<>();
        boolean[] killed = {false};
        boolean[] restarted = {false};
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> operator
                .withDeadlineAfter(4, TimeUnit.MINUTES)
                .moveVm(MoveVmRequest.newBuilder().setName("frozen").build()).forEachRemaining(p -> {
                    seen.add(p);
                    try {
                        if (p.hasMigration() && p.getMigration().getPhase() == MigrationProgress.Phase.PHASE_COPYING_MEMORY
                                && !killed[0]) {
                            killed[0] = true;
                            rack.killAgent(from); // the stream of the migration is lost with it
                            lap(from + "'s agent killed at " + p.getDetail());
                        } else if (p.getStep().equals("settling") && !restarted[0]) {
                            restarted[0] = true;
                            // libvirt ends the migration its client left; then the domain is left paused, as libvirt
                            // leaves it when a migration is interrupted after its switch-over began.
                            await("libvirt's migration job of frozen ended on " + from, () -> noJob(from, "frozen"));
                            if (cpuTime(from, "frozen") >= 0) {
                                onHost(from, "frozen", d -> {
                                    d.suspend();
                                    return null;
                                });
                            }
                            rack.startAgent(from);
                            lap(from + "'s agent started again, frozen paused there");
                        }
                    } catch (Exception x) {
                        throw new AssertionError(x);
                    }
                }));
        lap("move of frozen: " + e.getStatus() + describe(seen));
        assertTrue(restarted[0], describe(seen));
        assertTrue(e.getStatus().getDescription().contains("frozen was left paused on " + from
                + " by the interrupted migration, resumed, its record unchanged"), e.getStatus().toString());
        assertEquals(from, vm("frozen").getHomeHost());
        long cpu = cpuTime(from, "frozen");
        assertTrue(cpu > 0, "frozen runs on " + from);
        await("frozen's guest executes on " + from, () -> cpuTime(from, "frozen") > cpu);
        for (String h : HOSTS) {
            if (!h.equals(from)) {
                assertFalse(active(h, "frozen"), "frozen does not run on " + h);
            }
        }
        assertEquals("", vm("frozen").getMovePending());
        awaitNoDrift();
    }

    @Test
    @Order(7)
    void aStoppedCephVmMovesWithoutAMigrationAndAStoppedRawOneIsRefusedWithTheReason() throws Exception {
        String from = home(create(spec("cold", StorageTier.STORAGE_TIER_SATA, GIB)));
        stop("cold", from);
        await("cold shut off on " + from, () -> !active(from, "cold")
                && vm("cold").getPhase() == io.virtfleet.proto.v1.VmPhase.VM_PHASE_READY);

        List<VmProgress> steps = move("cold", null);
        lap("moved stopped cold: " + describe(steps));
        String to = vm("cold").getHomeHost();
        assertNotEquals(from, to);
        assertTrue(steps.stream().noneMatch(VmProgress::hasMigration), "nothing migrated: " + describe(steps));
        assertEquals("done", steps.get(steps.size() - 1).getStep(), describe(steps));
        assertFalse(vm("cold").getRunningWanted(), "still wanted stopped");
        assertTrue(defined(to, "cold"), "defined on its new home " + to);
        for (String h : HOSTS) {
            assertFalse(active(h, "cold"), "cold runs nowhere, as asked: " + h);
        }
        List<VmEvent> history = operator.withDeadlineAfter(10, TimeUnit.SECONDS)
                .getVmHistory(GetVmRequest.newBuilder().setName("cold").build()).getEventsList();
        String last = history.get(history.size() - 1).getMessage();
        assertTrue(last.startsWith("move cold from " + from + " to " + to + " (stopped, no migration)"), last);
        await(from + " holds cold as a replica", () -> vm("cold").getReplicaHostsList().contains(from));
        awaitNoDrift();

        stop("coldraw", home(create(spec("coldraw", StorageTier.STORAGE_TIER_RAW, GIB).setReplicated(false))));
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> move("coldraw", null));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode(), refused.getStatus().toString());
        assertTrue(refused.getStatus().getDescription().contains("stopped and its disk is local (raw)"),
                refused.getStatus().toString());
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    /** What placement says each host has room for (VMs of a small spec, and why no more): the claims' mirror. */
    private static Map<String, String> room() {
        Map<String, String> out = new java.util.TreeMap<>();
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).capacity(io.virtfleet.proto.v1.CapacityRequest.newBuilder()
                .setSpec(spec("probe", StorageTier.STORAGE_TIER_SATA, GIB)).build()).getHostsList()
                .forEach(h -> out.put(h.getHost(), h.getFits() + " (" + h.getReason() + ")"));
        return out;
    }

    private static boolean noJob(String host, String vm) {
        Boolean none = onHost(host, vm, d -> d.getJobInfo().getType() == 0);
        return none == null || none;
    }

    private static VmSpec.Builder spec(String name, StorageTier tier, long disk) {
        return VmSpec.newBuilder().setName(name).setStorage(tier).setDiskBytes(disk).setMemoryBytes(256 * MIB).setVcpus(1)
                .setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base").setReplicated(true);
    }

    private static List<VmProgress> create(VmSpec.Builder spec) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(3, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    private static String home(List<VmProgress> createSteps) {
        return createSteps.get(0).getHost();
    }

    private static List<VmProgress> move(String vm, String to) {
        List<VmProgress> steps = new ArrayList<>();
        MoveVmRequest.Builder r = MoveVmRequest.newBuilder().setName(vm);
        if (to != null) {
            r.setToHost(to);
        }
        operator.withDeadlineAfter(4, TimeUnit.MINUTES).moveVm(r.build()).forEachRemaining(steps::add);
        return steps;
    }

    /**
     * Stops the VM as an operator does. The guest boots nothing and ignores ACPI's power button, so it is powered off on
     * its host once its record says it is wanted stopped: the stop then finds it off, or sees it go off, instead of
     * waiting out the agent's shutdown grace (a minute). Powered off before that, it is still wanted running, and the
     * reconciler may start it again before the stop is recorded: the stop would then wait the whole grace.
     */
    private static void stop(String vm, String host) throws Exception {
        CompletableFuture<Vm> stopping = CompletableFuture.supplyAsync(() -> operator.withDeadlineAfter(3, TimeUnit.MINUTES)
                .setVmRunning(io.virtfleet.proto.v1.SetVmRunningRequest.newBuilder().setName(vm).setRunning(false).build()));
        await(vm + " recorded as wanted stopped", () -> stopping.isDone() || !vm(vm).getRunningWanted());
        onHost(host, vm, d -> {
            if (d.isActive() == 1) {
                d.destroy();
            }
            return true;
        });
        assertFalse(stopping.get(3, TimeUnit.MINUTES).getRunningWanted(), vm + " is wanted stopped");
    }

    private static Vm vm(String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    private static <T> T onHost(String host, String vm, LibvirtCall<T> call) {
        try (var c = new AutoCloseConnect(rack.host(host).libvirt())) {
            Domain d;
            try {
                d = c.connect.domainLookupByName(vm);
            } catch (LibvirtException notThere) {
                return call.absent();
            }
            return call.apply(d);
        } catch (LibvirtException e) {
            throw new AssertionError(host + ": " + e.getMessage(), e);
        }
    }

    private interface LibvirtCall<T> {
        T apply(Domain d) throws LibvirtException;

        default T absent() {
            return null;
        }
    }

    private record AutoCloseConnect(Connect connect) implements AutoCloseable {
        @Override
        public void close() throws LibvirtException {
            connect.close();
        }
    }

    private static boolean active(String host, String vm) {
        Boolean b = onHost(host, vm, d -> d.isActive() == 1);
        return b != null && b;
    }

    private static boolean defined(String host, String vm) {
        return onHost(host, vm, d -> true) != null;
    }

    private static Boolean autostart(String host, String vm) {
        return onHost(host, vm, Domain::getAutostart);
    }

    private static long cpuTime(String host, String vm) {
        Long t = onHost(host, vm, d -> {
            DomainInfo info = d.getInfo();
            return info.state == DomainInfo.DomainState.VIR_DOMAIN_RUNNING ? info.cpuTime : -1L;
        });
        return t == null ? -1 : t;
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (var in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void awaitNoDrift() throws InterruptedException {
        DriftReport[] last = new DriftReport[1];
        try {
            await("no drift", () -> {
                last[0] = operator.withDeadlineAfter(5, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance());
                return last[0].getDriftsCount() == 0 && last[0].getHostsList().stream().noneMatch(h -> h.getBehind());
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlast drift report: " + last[0], e);
        }
    }


    private static CliRun cli(String... args) {
        return CliRun.as(controller.endpoint(), fleet.adminBundle(), args);
    }

    private static String describe(List<VmProgress> steps) {
        StringBuilder s = new StringBuilder();
        for (VmProgress p : steps) {
            if (p.hasMigration() && p.getMigration().getPhase() != MigrationProgress.Phase.PHASE_DONE) {
                continue;
            }
            s.append("\n  ").append(p.getStep()).append(" ").append(p.getHost()).append(": ").append(p.getDetail());
        }
        return s.toString();
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        fleet.await(what, CONVERGE, done); // a dead agent fails at once, naming itself, not at the deadline
    }

    private static void lap(String what) {
        System.out.println("[MoveRealFleetTest] " + what);
    }
}
