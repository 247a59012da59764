package io.virtfleet.controller.failover;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.RefuseOnCall;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.RecoverHostRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A lost host's VMs restarted elsewhere, on an embedded fleet: a controller, three agents on libvirt test-driver
 * nodes, a real single-node Ceph cluster for the ssd disks. hv1's agent is stopped (the machine gone), its verdict
 * recorded through the fence view, then the operator's {@code virtfleet host recover hv1}.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FailoverTest {
    private static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    static Path cephDir;
    private static CephCluster ceph;

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private final java.util.Map<String, RefuseOnCall> refuseStarts = new java.util.concurrent.ConcurrentHashMap<>();
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeAll
    static void startCeph() throws Exception {
        assertTrue(CephCluster.installed(), "needs " + CephCluster.PACKAGES);
        ceph = CephCluster.start(cephDir);
    }

    @AfterAll
    static void stopCeph() {
        if (ceph != null) {
            ceph.close();
        }
    }

    @BeforeEach
    void threeHosts() throws Exception {
        assertTrue(SimulatedNetwork.available(), "LAN VMs need network namespaces: run the tests as root");
        EmbeddedFleet.Builder b = EmbeddedFleet.builder(work).nodes(EmbeddedFleet.defaultNodes(3)).simulatedNetwork(true)
                .ceph(ceph).heartbeat(Duration.ofMillis(200)).grace(Duration.ofSeconds(1))
                .reconcileInterval(Duration.ofMillis(300));
        for (String host : List.of("hv1", "hv2", "hv3")) {
            refuseStarts.put(host, new RefuseOnCall(AgentGrpc.getSetDomainRunningMethod()));
            b.apiInterceptors(host, List.of(refuseStarts.get(host)));
        }
        fleet = b.build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        admin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
    }

    @AfterEach
    void stop() {
        if (admin != null) {
            admin.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aLostHostsCephVmsRunElsewhereRawAndOptedOutOnesAreListedAndARerunChangesNothing() throws Exception {
        onHv1(() -> {
            create(spec("web", StorageTier.STORAGE_TIER_SSD));
            create(spec("db", StorageTier.STORAGE_TIER_RAW));
            create(spec("keep", StorageTier.STORAGE_TIER_SSD).toBuilder().setNoFailover(true).build());
        });
        int commitsBefore = history("web").size();
        lose("hv1");

        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> recover("hv1"));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("virtfleet host fence hv1")
                && refused.getStatus().getDescription().contains("--confirm-down"), refused.getStatus().getDescription());
        assertEquals("hv1", vm("web").getHomeHost(), "nothing moved before the verdict");

        fence("hv1");
        List<VmProgress> steps = recover("hv1");
        String target = vm("web").getHomeHost();
        assertNotEquals("hv1", target);
        assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals("web") && p.getStep().equals("recovered")
                && p.getDetail().equals("web: fenced hv1, placed on " + target + ", started")), steps.toString());
        assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals("web") && p.getStep().equals("placed")
                && p.hasPlacement()), "the placement is shown: " + steps);
        await("web runs on " + target, () -> active(target, "web"));
        List<VmEvent> history = history("web");
        assertEquals(commitsBefore + 1, history.size(), "one commit: " + history);
        String message = history.get(history.size() - 1).getMessage();
        assertTrue(message.startsWith("failover web from lost host hv1 to " + target)
                && message.contains("hv1 fenced: Ceph client 192.0.2.1:0/1 blocklisted by alice"), message);
        assertEquals(target, fleet.controller().scheduler().claimOf("web").host(), "the claim followed");
        assertNull(fleet.controller().scheduler().claimOf("web/failover"), "no failover claim left");

        assertEquals("hv1", vm("db").getHomeHost());
        assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals("db") && p.getStep().equals("down")
                && p.getDetail().equals("down until hv1 returns: its disk is on hv1")), steps.toString());
        assertEquals("hv1", vm("keep").getHomeHost());
        assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals("keep") && p.getStep().equals("opted-out")),
                steps.toString());
        VmProgress last = steps.get(steps.size() - 1);
        assertEquals("left", last.getStep());
        assertEquals(2, last.getVmsLeft(), last.toString());

        // Again, as an operator retrying: the recovered VM stays where it is, nothing is committed.
        List<VmProgress> again = recover("hv1");
        assertEquals(target, vm("web").getHomeHost());
        assertEquals(commitsBefore + 1, history("web").size(), "no second commit: " + again);
        assertTrue(again.stream().noneMatch(p -> p.getVmName().equals("web")), "web is not hv1's any more: " + again);
        assertEquals(2, again.get(again.size() - 1).getVmsLeft());
        assertTrue(active(target, "web"));
        assertTrue(fleet.controller().failover().pendingWork("web").isEmpty());
    }

    @Test
    void theCliSaysWhatWasLeftWithItsExitCodeAndVmShowTellsTheOptOut() throws Exception {
        onHv1(() -> {
            create(spec("app", StorageTier.STORAGE_TIER_SSD));
            create(spec("solo", StorageTier.STORAGE_TIER_SSD).toBuilder().setNoFailover(true).build());
        });
        assertTrue(cli("vm", "show", "solo").out().contains("\nFailover:  off (--no-failover)"), cli("vm", "show", "solo").out());
        assertTrue(cli("vm", "show", "solo", "-o", "json").out().contains("\"no_failover\": true"),
                cli("vm", "show", "solo", "-o", "json").out());
        lose("hv1");

        Run refused = cli("host", "recover", "hv1");
        assertEquals(1, refused.code(), refused.toString());
        assertTrue(refused.err().contains("virtfleet host fence hv1"), refused.err());

        // A Ceph fence whose blocklist entries lapsed (renewal failed) proves nothing: nothing starts elsewhere.
        ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).record(new Fence("hv1",
                Fence.Kind.CEPH, List.of("192.0.2.1"), Instant.now().minus(Duration.ofHours(2)),
                Instant.now().minus(Duration.ofHours(1)), "alice"));
        Run lapsed = cli("host", "recover", "hv1");
        assertEquals(1, lapsed.code(), lapsed.toString());
        assertTrue(lapsed.err().contains("the Ceph blocklist entries fencing hv1 (192.0.2.1) lapsed at"), lapsed.err());
        assertEquals("hv1", vm("app").getHomeHost(), "nothing moved");

        fence("hv1");
        Run run = cli("host", "recover", "hv1");
        assertEquals(8, run.code(), "some left: " + run);
        assertTrue(run.out().contains("solo") && run.out().contains("opted out of failover"), run.out());
        assertNotEquals("hv1", vm("app").getHomeHost());
    }

    @Test
    void oneVmsFailureStopsNoOtherAndAVmRecordedButNotStartedIsStartedOnceItsNewHomeAnswers() throws Exception {
        onHv1(() -> {
            create(spec("pin", StorageTier.STORAGE_TIER_SSD).toBuilder().setPinnedHost("hv1").build());
            create(spec("api", StorageTier.STORAGE_TIER_SSD));
            create(spec("www", StorageTier.STORAGE_TIER_SSD));
        });
        lose("hv1");
        fence("hv1");
        refuseStarts.get("hv2").refuseNext(Integer.MAX_VALUE); // hv2 takes definitions but fails to start anything
        refuseStarts.get("hv3").refuseNext(Integer.MAX_VALUE);

        List<VmProgress> steps = recover("hv1");
        assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals("pin") && p.getStep().equals("failed")
                && p.getDetail().startsWith("no host fits: ") && p.getDetail().contains("pinned")), steps.toString());
        for (String vm : List.of("api", "www")) {
            String target = vm(vm).getHomeHost();
            assertNotEquals("hv1", target, "recorded on its new home: " + steps);
            assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals(vm) && p.getStep().equals("failed")
                    && p.getDetail().startsWith("recorded on " + target + " but not started yet")), steps.toString());
            assertTrue(vm(vm).getMovePending().equals("a failover from lost host hv1 to " + target
                    + " is in flight or to be settled"), vm(vm).getMovePending());
        }
        assertEquals(3, steps.get(steps.size() - 1).getVmsLeft(), steps.toString());

        // The new homes answer again: the controller's passes start both, once, and end their notes.
        refuseStarts.get("hv2").refuseNext(0);
        refuseStarts.get("hv3").refuseNext(0);
        for (String vm : List.of("api", "www")) {
            String target = vm(vm).getHomeHost();
            await(vm + " runs on " + target, () -> active(target, vm));
            await(vm + "'s failover settled", () -> vm(vm).getMovePending().isEmpty());
        }
        List<VmProgress> again = recover("hv1");
        assertEquals(1, again.get(again.size() - 1).getVmsLeft(), "only pin is left: " + again);
        assertEquals("hv1", vm("pin").getHomeHost());
    }

    /**
     * A failover recorded on its target, which is lost before it starts the VM: the note is settled to the target (its
     * claims follow the record), never reported as recovered, and the target's own recovery starts the VM elsewhere.
     */
    @Test
    void aFailoverWhoseTargetIsLostBeforeItStartsIsSettledToThatTargetAndRecoveredFromThere() throws Exception {
        onHv1(() -> create(spec("api", StorageTier.STORAGE_TIER_SSD)));
        lose("hv1");
        fence("hv1");
        refuseStarts.get("hv2").refuseNext(Integer.MAX_VALUE);
        refuseStarts.get("hv3").refuseNext(Integer.MAX_VALUE);
        List<VmProgress> first = recover("hv1");
        String target = vm("api").getHomeHost();
        assertNotEquals("hv1", target, first.toString());
        assertTrue(first.stream().anyMatch(p -> p.getVmName().equals("api") && p.getStep().equals("failed")
                && p.getDetail().startsWith("recorded on " + target + " but not started yet")), first.toString());
        String other = target.equals("hv2") ? "hv3" : "hv2";

        lose(target);
        fence(target);
        // Whoever settles the note first (the controller's pass or this recover), api is never called recovered
        // while it runs nowhere, and its note ends with the claims on the target.
        Run again = cli("host", "recover", "hv1");
        assertTrue(!again.out().contains("api: fenced") && again.code() != 0 || !again.out().contains("api"),
                again.toString());
        await("api's failover note settled", () -> vm("api").getMovePending().isEmpty());
        assertEquals(target, vm("api").getHomeHost());
        assertEquals(target, fleet.controller().scheduler().claimOf("api").host(), "the claim followed the record");
        assertNull(fleet.controller().scheduler().claimOf("api/failover"), "no failover claim left");

        refuseStarts.get(other).refuseNext(0);
        List<VmProgress> fromTarget = recover(target);
        assertEquals(other, vm("api").getHomeHost(), fromTarget.toString());
        await("api runs on " + other, () -> active(other, "api"));
    }

    // ---- helpers --------------------------------------------------------------------------------------------------

    private interface Creates {
        void run() throws Exception;
    }

    /** Creates VMs while hv2 and hv3 are drained, so that they land on hv1. */
    private void onHv1(Creates creates) throws Exception {
        draining("hv2", true);
        draining("hv3", true);
        creates.run();
        draining("hv2", false);
        draining("hv3", false);
    }

    private void draining(String host, boolean draining) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(io.virtfleet.proto.v1.SetHostDrainingRequest
                .newBuilder().setName(host).setDraining(draining).build());
    }

    private static VmSpec spec(String name, StorageTier storage) {
        return VmSpec.newBuilder().setName(name).setStorage(storage).setDiskBytes(GIB).setMemoryBytes(256 * MIB)
                .setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(storage != StorageTier.STORAGE_TIER_RAW).build();
    }

    private void create(VmSpec spec) throws InterruptedException {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        await(spec.getName() + " ready", () -> vm(spec.getName()).getPhase() == VmPhase.VM_PHASE_READY);
        assertEquals("hv1", vm(spec.getName()).getHomeHost(), steps.toString());
    }

    /** The host's agent stops, as if the machine went away; the controller sees it unreachable. */
    private void lose(String host) throws InterruptedException {
        fleet.stopAgent(host);
        await(host + " unreachable", () -> fleet.controller().registry().get(host).map(h -> fleet.controller()
                .registry().get(host).isPresent() && !answering(host)).orElse(false));
    }

    private boolean answering(String host) {
        return operator.withDeadlineAfter(10, TimeUnit.SECONDS).getHost(io.virtfleet.proto.v1.GetHostRequest
                .newBuilder().setName(host).build()).getState() != HostState.HOST_STATE_UNREACHABLE;
    }

    private void fence(String host) throws java.io.IOException {
        ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).record(new Fence(host, Fence.Kind.CEPH,
                List.of("192.0.2.1:0/1"), Instant.now(), Instant.now().plus(Duration.ofHours(1)), "alice"));
    }

    private List<VmProgress> recover(String host) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).recoverHost(RecoverHostRequest.newBuilder().setName(host).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    private Vm vm(String name) {
        return operator.withDeadlineAfter(10, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    private List<VmEvent> history(String name) throws Exception {
        return fleet.controller().vmStore().history(name);
    }

    private boolean active(String host, String vm) {
        return fleet.controller().registry().get(host).orElseThrow().report().getDomainsList().stream()
                .anyMatch(d -> d.getName().equals(vm) && Domains.active(d.getState()));
    }

    private record Run(int code, String out, String err) {}

    private Run cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> all = new ArrayList<>(List.of("--controller", fleet.controllerEndpoint().toString(),
                "--credentials", fleet.adminCredentials().toString()));
        all.addAll(List.of(args));
        int code = io.virtfleet.controller.cli.VirtfleetCli.run(new PrintWriter(out), new PrintWriter(err),
                all.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        Await.until(what, LIMIT, done);
    }
}
