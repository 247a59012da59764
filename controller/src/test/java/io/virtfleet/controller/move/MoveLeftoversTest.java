package io.virtfleet.controller.move;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.RefuseOnCall;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a raw-disk move leaves on a host that does not answer at the time, on an embedded fleet (a controller, two
 * agents on libvirt test-driver nodes, real gRPC, raw disks in each agent's images directory): the move is noted, the
 * operator sees what is left, and the reconciler's passes remove it once the host answers. The test driver cannot
 * migrate, so each source agent's MigrateDomain answers as a real one does at the end: ABORTED when the target was
 * lost mid-way, or the last progress event (DONE) once the domain has left this host (shut off here).
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class MoveLeftoversTest {
    private static final List<String> HOSTS = List.of("hv1", "hv2");
    private static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    Path work;

    private final Map<String, MigrationAnswer> migrations = new ConcurrentHashMap<>();
    private final Map<String, RefuseOnCall> refuseDiskDeletes = new ConcurrentHashMap<>();
    private final Map<String, RefuseOnCall> refuseUndefines = new ConcurrentHashMap<>();
    private EmbeddedFleet fleet;
    private Clients admin;
    private Clients asController;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void twoHostsWhoseMigrationsTheTestAnswers() throws Exception {
        assertTrue(SimulatedNetwork.available(), "LAN VMs need network namespaces: run the tests as root");
        EmbeddedFleet.Builder b = EmbeddedFleet.builder(work).nodes(EmbeddedFleet.defaultNodes(2)).simulatedNetwork(true)
                .heartbeat(Duration.ofMillis(200)).reconcileInterval(Duration.ofMillis(300));
        for (String host : HOSTS) {
            migrations.put(host, new MigrationAnswer(host));
            refuseDiskDeletes.put(host, new RefuseOnCall(AgentGrpc.getDeleteDiskMethod()));
            refuseUndefines.put(host, new RefuseOnCall(AgentGrpc.getUndefineDomainMethod()));
            b.apiInterceptors(host, List.of(migrations.get(host), refuseDiskDeletes.get(host), refuseUndefines.get(host)));
        }
        fleet = b.build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        admin = Clients.as(fleet.adminCredentials());
        asController = Clients.as(fleet.controller().pki().credentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        await("both hosts report a migration address", () -> fleet.controller().registry().all().stream()
                .filter(h -> !h.report().getMigrationAddress().isEmpty()).count() == HOSTS.size());
    }

    @AfterEach
    void stop() {
        if (asController != null) {
            asController.close();
        }
        if (admin != null) {
            admin.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aDiskMadeOnATargetLostMidWayIsDeletedOnceTheTargetAnswers() throws Exception {
        String from = create("db");
        String to = other(from);
        migrations.get(from).abortAsTargetLost();
        refuseDiskDeletes.get(to).refuseNext(Integer.MAX_VALUE); // the target does not answer

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> move("db", to));
        assertEquals(Status.Code.ABORTED, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().endsWith("db still runs on " + from + "; its record unchanged; the disk"
                + " made for it on " + to + " could not be deleted yet (disk on " + to + " failed: UNAVAILABLE refused by the"
                + " test): the controller deletes it once " + to + " answers"), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().contains("the controller deletes it once " + to + " answers"),
                e.getStatus().getDescription());
        assertEquals(from, vm("db").getHomeHost());
        assertTrue(Files.exists(image(to, "db")), "the disk made for the move is still on " + to);
        assertTrue(vm("db").getMovePending().contains("on " + to), vm("db").getMovePending());
        String shown = vmShow("db");
        assertTrue(shown.contains("\nMove:      the disk a failed move made for db on " + to + " is to be deleted once "
                + to + " answers\n"), shown);
        assertTrue(Files.exists(note("db")), "the move's note is kept while its disk is left");
        int refusedSoFar = refuseDiskDeletes.get(to).refused();
        await("the reconciler's passes retry the delete", () -> refuseDiskDeletes.get(to).refused() > refusedSoFar);

        refuseDiskDeletes.get(to).refuseNext(0); // the target answers again
        await("the disk on " + to + " deleted", () -> !Files.exists(image(to, "db")));
        await("the move's note ended", () -> !Files.exists(note("db")));
        assertEquals("", vm("db").getMovePending());
        assertTrue(Files.exists(image(from, "db")), "the VM's own disk stays on " + from);
        assertEquals(from, vm("db").getHomeHost());
    }

    @Test
    void aDiskLeftOnTheTargetIsDeletedEvenWhenTheVmWasDeletedMeanwhile() throws Exception {
        String from = create("old");
        String to = other(from);
        migrations.get(from).abortAsTargetLost();
        refuseDiskDeletes.get(to).refuseNext(Integer.MAX_VALUE);
        assertThrows(StatusRuntimeException.class, () -> move("old", to));
        assertTrue(Files.exists(image(to, "old")));

        operator.withDeadlineAfter(2, TimeUnit.MINUTES).deleteVm(DeleteVmRequest.newBuilder().setName("old")
                .setDeleteDisk(true).build()).forEachRemaining(p -> { });
        await("old deleted with its disk on " + from, () -> !Files.exists(image(from, "old")));
        assertTrue(Files.exists(note("old")), "the disk on " + to + " is still noted");

        refuseDiskDeletes.get(to).refuseNext(0);
        await("the disk on " + to + " deleted", () -> !Files.exists(image(to, "old")));
        await("the move's note ended", () -> !Files.exists(note("old")));
    }

    @Test
    void aMovedVmsOldCopyIsRemovedOnceItsOldHomeAnswers() throws Exception {
        String from = create("app");
        String to = other(from);
        migrations.get(from).succeed();
        refuseUndefines.get(from).refuseNext(Integer.MAX_VALUE); // the old home stops answering after the switch-over

        List<VmProgress> steps = move("app", to);
        assertEquals("done", steps.get(steps.size() - 1).getStep(), steps.toString());
        assertEquals(to, vm("app").getHomeHost());
        assertTrue(steps.stream().anyMatch(p -> p.getHost().equals(from)
                && p.getDetail().contains("the controller removes it once " + from + " answers")), steps.toString());
        assertTrue(Files.exists(image(from, "app")), "the old copy is still on " + from);
        assertTrue(vm("app").getMovePending().contains("on " + from), vm("app").getMovePending());
        int refusedSoFar = refuseUndefines.get(from).refused();
        await("the reconciler's passes retry", () -> refuseUndefines.get(from).refused() > refusedSoFar);

        refuseUndefines.get(from).refuseNext(0);
        await("the old disk on " + from + " deleted", () -> !Files.exists(image(from, "app")));
        await("the move's note ended", () -> !Files.exists(note("app")));
        await("app undefined on " + from, () -> !defined(from, "app"));
        assertTrue(Files.exists(image(to, "app")), "the VM's disk on its new home stays");
        assertEquals("", vm("app").getMovePending());
    }

    @Test
    void aMigrationWhoseStreamIsLostAfterTheSwitchOverIsRecordedOnItsTarget() throws Exception {
        String from = create("lost");
        String to = other(from);
        migrations.get(from).switchOverThenLoseTheStream();

        List<VmProgress> steps = move("lost", to);
        assertEquals(to, vm("lost").getHomeHost(), "recorded where it runs: " + steps);
        assertTrue(steps.stream().anyMatch(p -> p.getStep().equals("settling")), "settled from the hosts' answers: "
                + steps);
        assertEquals("done", steps.get(steps.size() - 1).getStep(), steps.toString());
        assertEquals(to, fleet.controller().scheduler().claimOf("lost").host(), "the claim followed");
        assertEquals(null, fleet.controller().scheduler().claimOf("lost/move"), "no move claim left");
        await("the move's note ended", () -> !Files.exists(note("lost")));
        await("the old copy removed from " + from, () -> !Files.exists(image(from, "lost")));
    }

    @Test
    void aDrainMovesNoMoreVmsOnceItsHostIsUndrained() throws Exception {
        draining("hv2", true); // both VMs land on hv1
        create("one");
        create("two");
        draining("hv2", false);
        assertEquals("hv1", vm("one").getHomeHost());
        assertEquals("hv1", vm("two").getHomeHost());
        // An operator undrains hv1 while its first VM moves.
        migrations.get("hv1").succeedAfter(() -> draining("hv1", false));

        draining("hv1", true);
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).evacuateHost(io.virtfleet.proto.v1.EvacuateHostRequest
                .newBuilder().setName("hv1").setParallel(1).build()).forEachRemaining(steps::add);
        VmProgress left = steps.get(steps.size() - 1);
        assertEquals("left", left.getStep(), steps.toString());
        assertEquals(1, left.getVmsLeft(), left.toString());
        assertTrue(left.getDetail().contains("two: not moved: hv1 was undrained meanwhile"), left.getDetail());
        assertEquals("hv2", vm("one").getHomeHost(), "the move under way when it was undrained finished");
        assertEquals("hv1", vm("two").getHomeHost());
    }

    private void draining(String host, boolean draining) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(io.virtfleet.proto.v1.SetHostDrainingRequest
                .newBuilder().setName(host).setDraining(draining).build());
    }

    // ---- the source agents' migrations, as the test answers them ------------------------------------------------

    /** Answers a host's next MigrateDomain as its agent would end a real migration; other calls go through. */
    private final class MigrationAnswer implements ServerInterceptor {
        private final String host;
        private volatile String next = "";
        private volatile Runnable meanwhile = () -> { };

        MigrationAnswer(String host) {
            this.host = host;
        }

        void abortAsTargetLost() {
            next = "abort";
        }

        void succeed() {
            next = "succeed";
        }

        /** As {@link #succeed}, with {@code meanwhile} run while the migration is under way. */
        void succeedAfter(Runnable meanwhile) {
            this.meanwhile = meanwhile;
            next = "succeed";
        }

        /** The VM reaches the target (defined and started there, shut off here), then the stream breaks. */
        void switchOverThenLoseTheStream() {
            next = "lose";
        }

        @Override
        public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                          ServerCallHandler<Q, A> next) {
            if (!call.getMethodDescriptor().getFullMethodName().equals(AgentGrpc.getMigrateDomainMethod().getFullMethodName())
                    || this.next.isEmpty()) {
                return next.startCall(call, headers);
            }
            String how = this.next;
            this.next = "";
            call.request(2);
            return new ServerCall.Listener<Q>() {
                private io.virtfleet.proto.v1.MigrateDomainRequest request;

                /** Requests reach interceptors unread, as raw streams; answers leave the same way. */
                private boolean raw;

                @Override
                public void onMessage(Q message) {
                    raw = message instanceof java.io.InputStream;
                    try {
                        request = raw ? io.virtfleet.proto.v1.MigrateDomainRequest.parseFrom((java.io.InputStream) message)
                                : (io.virtfleet.proto.v1.MigrateDomainRequest) message;
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }

                @Override
                @SuppressWarnings("unchecked")
                public void onHalfClose() {
                    String vm = request.getVmName();
                    String target = request.getTargetHost();
                    CompletableFuture.runAsync(() -> {
                        if (how.equals("abort")) {
                            call.close(Status.ABORTED.withDescription("migration of " + vm + " to " + target + " ("
                                    + request.getTargetAddress() + ") aborted: " + target + "'s libvirtd stopped answering;"
                                    + " " + vm + " still runs on " + host), new Metadata());
                            return;
                        }
                        meanwhile.run();
                        // libvirt's success: the domain runs on the target, this host's copy is shut off.
                        stopDomain(host, vm);
                        if (how.equals("lose")) {
                            startOn(target, vm, request.getTargetDomainXml());
                            call.close(Status.UNAVAILABLE.withDescription("connection to " + host + "'s agent lost"),
                                    new Metadata());
                            return;
                        }
                        call.sendHeaders(new Metadata());
                        MigrationProgress done = MigrationProgress.newBuilder().setPhase(MigrationProgress.Phase.PHASE_DONE)
                                .setPercent(100).setDetail(vm + " runs on " + target).build();
                        call.sendMessage((A) (raw ? done.toByteString().newInput() : done));
                        call.close(Status.OK, new Metadata());
                    });
                }
            };
        }
    }

    private void startOn(String host, String vm, String xml) {
        AgentGrpc.AgentBlockingStub agent = AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("endpoint",
                fleet.controller().registry().get(host).orElseThrow().agentEndpoint()), host))
                .withDeadlineAfter(30, TimeUnit.SECONDS);
        agent.defineDomain(io.virtfleet.proto.v1.DefineDomainRequest.newBuilder().setVmName(vm).setDomainXml(xml).build());
        agent.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName(vm).setRunning(true).build());
    }

    private void stopDomain(String host, String vm) {
        AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("endpoint",
                        fleet.controller().registry().get(host).orElseThrow().agentEndpoint()), host))
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName(vm).setRunning(false)
                        .setShutdownTimeoutMs(1000).build());
    }

    // ---- helpers --------------------------------------------------------------------------------------------------

    /** Creates a running raw-disk VM; returns its home. */
    private String create(String name) throws InterruptedException {
        VmSpec spec = VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(GIB)
                .setMemoryBytes(256 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .build();
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        await(name + " ready", () -> vm(name).getPhase() == VmPhase.VM_PHASE_READY);
        String home = vm(name).getHomeHost();
        assertTrue(Files.exists(image(home, name)), steps.toString());
        return home;
    }

    private static String other(String host) {
        return HOSTS.stream().filter(h -> !h.equals(host)).findFirst().orElseThrow();
    }

    private List<VmProgress> move(String vm, String to) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).moveVm(MoveVmRequest.newBuilder().setName(vm).setToHost(to).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    /** What {@code virtfleet vm show} prints. */
    private String vmShow(String name) {
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int code = io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err),
                "--controller", fleet.controllerEndpoint().toString(), "--credentials", fleet.adminCredentials().toString(),
                "vm", "show", name);
        assertEquals(0, code, err.toString());
        return out.toString();
    }

    private Vm vm(String name) {
        return operator.withDeadlineAfter(10, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    private boolean defined(String host, String vm) {
        return fleet.controller().registry().get(host).orElseThrow().report().getDomainsList().stream()
                .anyMatch(d -> d.getName().equals(vm));
    }

    private Path image(String host, String vm) {
        return work.resolve("agents").resolve(host).resolve("images").resolve(vm + ".img");
    }

    private Path note(String vm) {
        return work.resolve("controller").resolve("moves").resolve(vm);
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        Await.until(what, LIMIT, done);
    }
}
