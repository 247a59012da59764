package io.virtfleet.controller.vm;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vm create} end to end on a small embedded fleet: two hosts, each an agent on its own libvirt
 * test-driver node, with its network in a namespace of its own (joined by an underlay cable) and its raw disks
 * made by the real qemu-img; the operator talks to the controller over mutual TLS.
 */
class VmLifecycleTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final Map<String, Path> images = new LinkedHashMap<>();
    private final Map<String, String> hostNamespace = new LinkedHashMap<>();
    private EmbeddedFleet fleet;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void twoHostsWithNetworkAndDisks() throws Exception {
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.248.0.1/24", ns2, "10.248.0.2/24", "ul0");
        fleet = EmbeddedFleet.builder(work).nodes(List.of()).heartbeat(HEARTBEAT).reconcileInterval(Duration.ofHours(1))
                .provisioning(p -> p.withFailoverRoutes(Map.of("203.0.113.7", "hv1"))).build().start();
        closers.add(fleet);
        hostNamespace.put("hv1", ns1);
        hostNamespace.put("hv2", ns2);
        Map<String, String> hostNs = hostNamespace;
        for (String host : List.of("hv1", "hv2")) {
            // Placement judges hosts by their test-driver nodes' sizes, which their agents report.
            TestDriverNode node = host.equals("hv1") ? new TestDriverNode(host, 32, 131072) : new TestDriverNode(host, 8, 16384);
            String uri = node.writeTo(work.resolve("nodes"));
            AgentConfig base = fleet.agentConfig(host, work.resolve("agents").resolve(host), uri);
            AgentConfig config = new AgentConfig(base.hostName(), base.controller(), base.listen(), null, base.libvirtUri(),
                    base.heartbeatInterval(), base.maxBackoff(), base.imagesDirectory(), base.stateDirectory(),
                    base.storageTiers(), fleet.joinToken(host), null, base.ceph(), "ul0", null, 4789, "br0",
                    base.definitionsDirectory(), base.definitionsRemote(), base.installerDirectory(),
                    host.equals("hv1") ? Ipv4.publicAddress("public-address", "198.51.100.7") : null);
            images.put(host, base.imagesDirectory());
            NetworkSettings inNamespace = NetworkSettings.ofHost("ul0", null, 4789, "br0").inNamespace(hostNs.get(host));
            Agent agent = Agent.create(config, binder -> binder.bind(NetworkSettings.class).toInstance(inNamespace));
            closers.add(0, agent);
            agent.start();
        }
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        await("both hosts ready and reporting their underlay", () -> operator.listHosts(ListHostsRequest.getDefaultInstance())
                .getHostsList().stream().filter(h -> !h.getReport().getVxlanAddress().isEmpty()
                        && h.getState() == io.virtfleet.proto.v1.HostState.HOST_STATE_READY).count() == 2);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closers) {
            c.close();
        }
        namespaces.close();
    }

    private static VmSpec raw(String name, long disk) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(disk)
                .setMemoryBytes(2 * GIB).setVcpus(2).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("api").build();
    }

    private List<VmProgress> create(VmSpec spec) {
        List<VmProgress> steps = new ArrayList<>();
        Iterator<VmProgress> it = operator.createVm(CreateVmRequest.newBuilder().setSpec(spec).build());
        it.forEachRemaining(steps::add);
        return steps;
    }

    @Test
    void aClaimOffItsVmsRecordedHomeFollowsTheRecordAtTheNextStart() throws Exception {
        VmSpec spec = raw("follow", 2 * GIB);
        String home = create(spec).get(0).getHost();
        String other = home.equals("hv1") ? "hv2" : "hv1";
        // As a move leaves it when the controller stops between its commit and the claims' swap: the record names
        // the new home, the claim is still on the old one.
        var scheduler = fleet.controller().scheduler();
        scheduler.release("follow");
        scheduler.restore(io.virtfleet.controller.scheduler.Request.of(spec), other);
        assertEquals(other, scheduler.claimOf("follow").host());

        // And a move's claim on its target whose move was never noted (the controller stopped in between).
        var r = io.virtfleet.controller.scheduler.Request.of(spec);
        scheduler.restore(new io.virtfleet.controller.scheduler.Request("follow/move", r.memoryBytes(), r.vcpus(),
                r.storage(), r.diskBytes(), r.failoverAddress(), r.spreadGroup(), r.pinnedHost()), other);

        fleet.restartController();
        assertEquals(home, fleet.controller().scheduler().claimOf("follow").host(),
                "the claim follows the record, not the claims journal");
        assertNull(fleet.controller().scheduler().claimOf("follow/move"), "the unnoted move's claim is released");
    }

    @Test
    void aVmWhoseMoveIsStillToBeSettledIsNeitherStartedStoppedReinstalledNorDeleted() throws Exception {
        String home = create(raw("held", 2 * GIB)).get(0).getHost();
        fleet.stopController();
        // A move the previous run could not settle, to a host that has not reported since: it may run there.
        Files.createDirectories(work.resolve("controller").resolve("moves"));
        Files.writeString(work.resolve("controller").resolve("moves").resolve("held"),
                "source=" + home + "\ntarget=hv9\ncopy-disk=true\ntarget-disk-made=false\noperator=admin\n");
        fleet.startController();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));

        for (Runnable change : List.<Runnable>of(
                () -> operator.setVmRunning(SetVmRunningRequest.newBuilder().setName("held").setRunning(false).build()),
                () -> operator.reinstallVm(io.virtfleet.proto.v1.ReinstallVmRequest.newBuilder().setName("held").build()),
                () -> operator.deleteVm(DeleteVmRequest.newBuilder().setName("held").build()).forEachRemaining(p -> { }))) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, change::run);
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().contains("a move of held is still to be settled"),
                    e.getStatus().toString());
        }
        Vm held = operator.getVm(io.virtfleet.proto.v1.GetVmRequest.newBuilder().setName("held").build());
        assertTrue(held.getRunningWanted(), "its record unchanged");
        assertEquals(home, held.getHomeHost());
    }

    @Test
    void historyListsEveryChangeOfAVmWithItsAuthorAlsoAfterItWasDeleted() throws Exception {
        create(raw("hist", 2 * GIB));
        operator.setVmRunning(SetVmRunningRequest.newBuilder().setName("hist").setRunning(false).build());
        operator.deleteVm(DeleteVmRequest.newBuilder().setName("hist").build()).forEachRemaining(p -> { });

        String[] as = {"--controller", fleet.controllerEndpoint().toString(), "--credentials", fleet.adminCredentials().toString()};
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int code = io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err),
                concat(as, "vm", "history", "hist"));
        assertEquals(0, code, out + "" + err);
        List<String> lines = out.toString().lines().toList();
        assertTrue(lines.get(0).matches("WHEN +WHO +COMMIT +CHANGED +WHAT"), out.toString());
        List<String> changes = lines.subList(1, lines.size() - 1);
        assertEquals(4, changes.size(), out.toString());
        assertTrue(changes.get(0).matches(".* admin +[0-9a-f]{12} +record\\+definition +create hist on hv[12].*"), changes.get(0));
        assertTrue(changes.get(1).matches(".* admin +[0-9a-f]{12} +record +stop hist"), changes.get(1));
        assertTrue(changes.get(2).matches(".* admin +[0-9a-f]{12} +record +delete hist.*"), changes.get(2));
        assertTrue(changes.get(3).matches(".* admin +[0-9a-f]{12} +record\\+definition +deleted hist"), changes.get(3));
        assertEquals("hist no longer exists; the last change deleted it.", lines.get(lines.size() - 1));

        java.io.StringWriter json = new java.io.StringWriter();
        assertEquals(0, io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(json), new java.io.PrintWriter(err),
                concat(as, "-o", "json", "vm", "history", "hist")));
        var parsed = com.google.gson.JsonParser.parseString(json.toString()).getAsJsonObject();
        assertEquals(4, parsed.getAsJsonArray("events").size(), json.toString());
        assertTrue(parsed.getAsJsonArray("events").get(0).getAsJsonObject().get("commit").getAsString().matches("[0-9a-f]{40}"));

        assertEquals(4, io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(new java.io.StringWriter()),
                new java.io.PrintWriter(err), concat(as, "vm", "history", "never")), "a name never recorded is not found");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void createPlacesMakesTheDiskAndNetworkDefinesAndStartsThenDeleteCleansUp() throws Exception {
        List<VmProgress> steps = create(raw("git", 20 * GIB));
        assertEquals(List.of("placed", "disk", "network", "defined", "started", "done"),
                steps.stream().map(VmProgress::getStep).toList());
        String home = operator.getVm(GetVmRequest.newBuilder().setName("git").build()).getHomeHost();
        assertTrue(steps.get(0).getDetail().startsWith("placed on " + home + ": spread score"), steps.get(0).getDetail());
        Path disk = images.get(home).resolve("git.img");
        String info = Command.of("qemu-img", "info", "--output=json", disk.toString()).runChecked().stdout();
        assertTrue(info.contains("\"virtual-size\": " + 20 * GIB) && info.contains("\"format\": \"raw\""), info);
        assertTrue(namespaces.ip(hostNamespace.get(home), "-d", "link", "show", "vxlan10").stdout().contains("vxlan id 10"),
                "LAN 10 exists on the home host");
        DomainInfo domain = awaitDomain(home, "git", d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING);
        assertEquals(2, domain.getVcpus());
        assertTrue(domain.getAutostart(), "a VM wanted running is started when its home boots");

        Vm vm = operator.getVm(GetVmRequest.newBuilder().setName("git").build());
        assertEquals(home, vm.getHomeHost());
        assertEquals("VM_PHASE_READY", vm.getPhase().name());
        assertTrue(vm.getHistory(0).getMessage().startsWith("create git on " + home), vm.getHistory(0).getMessage());
        assertEquals("admin", vm.getHistory(0).getOperator(), "the operator's name is in the commit");
        assertEquals(disk.toString(), vm.getDisk());
        assertTrue(vm.getNetwork().matches("vxbr10 52:54:00(:[0-9a-f]{2}){3}"), vm.getNetwork());

        // The operator's view through the CLI: where it is, on what, and who did what.
        java.io.StringWriter shown = new java.io.StringWriter();
        int code = io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(shown),
                new java.io.PrintWriter(new java.io.StringWriter()), "--controller", fleet.controllerEndpoint().toString(),
                "--credentials", fleet.adminCredentials().toString(), "vm", "show", "git");
        assertEquals(0, code, shown.toString());
        assertTrue(shown.toString().contains("Host:      " + home), shown.toString());
        assertTrue(shown.toString().contains("on vxbr10 52:54:00:"), shown.toString());
        assertTrue(shown.toString().contains("admin      create git on " + home), shown.toString());
        Path xml = work.resolve("controller/definitions/etc/libvirt/qemu/git.xml");
        assertTrue(Files.readString(xml).contains("<source bridge=\"vxbr10\"/>"), "definition committed as in the runbook");

        operator.setVmRunning(SetVmRunningRequest.newBuilder().setName("git").setRunning(false).build());
        // Stopped by its operator, it stays stopped when its home reboots: the agent's boot start is off.
        awaitDomain(home, "git", d -> d.getState() == DomainState.DOMAIN_STATE_SHUTOFF && !d.getAutostart());
        operator.setVmRunning(SetVmRunningRequest.newBuilder().setName("git").setRunning(true).build());
        awaitDomain(home, "git", d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING && d.getAutostart());
        operator.setVmRunning(SetVmRunningRequest.newBuilder().setName("git").setRunning(false).build());
        awaitDomain(home, "git", d -> d.getState() == DomainState.DOMAIN_STATE_SHUTOFF && !d.getAutostart());

        operator.deleteVm(DeleteVmRequest.newBuilder().setName("git").setDeleteDisk(true).build()).forEachRemaining(p -> { });
        await("domain undefined", () -> domainOn(home, "git").isEmpty());
        assertFalse(Files.exists(disk), "disk removed with --delete-disk");
        assertFalse(Files.exists(xml), "definition removed from the repository");
        assertTrue(fleet.controller().scheduler().claims().isEmpty(), "claim released");
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class,
                () -> operator.getVm(GetVmRequest.newBuilder().setName("git").build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
    }

    @Test
    void aDiskOfAnotherSizeIsRefusedAndNothingIsLeftBehind() throws Exception {
        Path existing = images.get("hv1").resolve("db.img");
        Command.of("qemu-img", "create", "-f", "raw", existing.toString(), Long.toString(5 * GIB)).runChecked();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> create(raw("db", 20 * GIB).toBuilder().setPinnedHost("hv1").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("disk on hv1 failed"), e.getStatus().getDescription());
        assertTrue(Files.exists(existing), "someone's disk is never deleted");
        assertEquals(5 * GIB, Files.size(existing));
        assertTrue(fleet.controller().scheduler().claims().isEmpty(), "claim released");
        assertTrue(fleet.controller().vms().list().isEmpty(), "no VM recorded");
        assertTrue(domainOn("hv1", "db").isEmpty(), "no definition");
    }

    @Test
    void aNetworkTheHostCannotProvideUndoesTheDiskThisCreateMade() throws Exception {
        // The failover IP is routed to hv1, whose namespace has no public bridge br0.
        VmSpec www = raw("www", 10 * GIB).toBuilder().setNetwork(NetworkSpec.newBuilder().setFailover(
                io.virtfleet.proto.v1.FailoverIp.newBuilder().setAddress("203.0.113.7").setMac("02:00:00:aa:bb:cc"))).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("network on hv1 failed"), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().contains("br0"), e.getStatus().getDescription());
        assertFalse(Files.exists(images.get("hv1").resolve("www.img")), "the disk this create made is gone");
        assertTrue(fleet.controller().scheduler().claims().isEmpty(), "claim released");
        assertTrue(fleet.controller().vms().list().isEmpty(), "no VM recorded");
        assertTrue(domainOn("hv1", "www").isEmpty(), "no definition");
    }

    @Test
    void noHostFitsSaysWhyForEachHostAndChangesNothing() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> create(raw("huge", 20 * GIB).toBuilder().setMemoryBytes(512 * GIB).build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("memory: 2 hosts"), e.getStatus().getDescription());
        assertTrue(fleet.controller().scheduler().claims().isEmpty());

        // The CLI prints every host's verdict, then the reason, and exits 6.
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int code = io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err),
                "--controller", fleet.controllerEndpoint().toString(), "--credentials", fleet.adminCredentials().toString(),
                "vm", "create", "huge", "--storage", "raw", "--size", "20G", "--lan", "10", "--memory", "512G");
        assertEquals(6, code, err.toString());
        assertTrue(out.toString().contains("no: memory") && out.toString().contains("No host fits."), out.toString());
        assertTrue(err.toString().startsWith("virtfleet: no host fits VM huge: memory: 2 hosts"), err.toString());
    }

    @Test
    void aHostNewToALanIsAddedToTheFloodListsOfTheHostsAlreadyOnIt() throws Exception {
        create(raw("a", 10 * GIB).toBuilder().setPinnedHost("hv1").build());
        // As if hv2 had joined the fleet after LAN 10 was built on hv1: hv1 does not flood to it.
        Command.of("bridge", "-n", hostNamespace.get("hv1"), "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan10",
                "dst", "10.248.0.2").runChecked();
        assertFalse(floodsTo("hv1", "10.248.0.2"));

        create(raw("b", 10 * GIB).toBuilder().setPinnedHost("hv2").build());
        await("hv1 floods LAN 10 to hv2 again once a VM of LAN 10 lives there", () -> floodsTo("hv1", "10.248.0.2"));
        assertTrue(floodsTo("hv2", "10.248.0.1"));
    }

    private boolean floodsTo(String host, String peer) {
        return Command.of("bridge", "-n", hostNamespace.get(host), "fdb", "show", "dev", "vxlan10").runChecked().stdout()
                .lines().anyMatch(l -> l.startsWith("00:00:00:00:00:00") && l.contains("dst " + peer + " "));
    }

    @Test
    void anAgentClonesTheDefinitionsRepositoryFromTheControllerWithItsOwnCertificate() throws Exception {
        create(raw("git", 10 * GIB));
        io.virtfleet.common.security.TlsCredentials agentCertificate = io.virtfleet.agent.enrollment.AgentCredentials
                .load(work.resolve("agents").resolve("hv2"), "hv2").orElseThrow();
        io.virtfleet.agent.sync.DefinitionsClone clone = new io.virtfleet.agent.sync.DefinitionsClone(
                work.resolve("hv2-common").toAbsolutePath(),
                new io.virtfleet.common.validation.Endpoint("127.0.0.1", fleet.controller().gitPort()), agentCertificate,
                Duration.ofSeconds(20));
        io.virtfleet.agent.sync.PullResult pulled = clone.pull();
        assertEquals(fleet.controller().vms().definitionsHead(), pulled.commit());
        assertEquals(List.of("git"), pulled.added());
        assertEquals(Files.readString(work.resolve("controller/definitions/etc/libvirt/qemu/git.xml")),
                Files.readString(work.resolve("hv2-common/etc/libvirt/qemu/git.xml")), "the runbook's /srv/common, served");
    }

    @Test
    void aSecondVmWithTheSameNameIsRefused() throws Exception {
        create(raw("web", 10 * GIB));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(raw("web", 10 * GIB)));
        assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
    }

    @Test
    void anOperatorWhoHangsUpBeforePlacementLeavesNoClaimWithoutItsVm() throws Exception {
        io.virtfleet.controller.reconcile.VmLocks.Held busy = fleet.controller().reconciler().lock("api");
        // the create waits here, as behind a slow placement
        try {
            Clients hangsUp = Clients.as(fleet.adminCredentials());
            closers.add(0, hangsUp);
            java.util.concurrent.atomic.AtomicReference<io.grpc.stub.ClientCallStreamObserver<CreateVmRequest>> call =
                    new java.util.concurrent.atomic.AtomicReference<>();
            FleetGrpc.newStub(hangsUp.controller(fleet.controllerEndpoint())).createVm(
                    CreateVmRequest.newBuilder().setSpec(raw("api", 10 * GIB).toBuilder().setPinnedHost("hv1")).build(),
                    new io.grpc.stub.ClientResponseObserver<CreateVmRequest, VmProgress>() {
                        @Override
                        public void beforeStart(io.grpc.stub.ClientCallStreamObserver<CreateVmRequest> requests) {
                            call.set(requests);
                        }

                        @Override
                        public void onNext(VmProgress p) { }

                        @Override
                        public void onError(Throwable t) { }

                        @Override
                        public void onCompleted() { }
                    });
            await("the create waiting for the VM", () -> fleet.controller().reconciler().locks().waiting("api") > 0);
            // The controller logs when it sees the call cancelled: only then does the create go on.
            java.util.concurrent.CompletableFuture<String> hungUp = new java.util.concurrent.CompletableFuture<>();
            java.util.logging.Logger endpointLog = java.util.logging.Logger.getLogger(VmEndpoint.class.getName());
            java.util.logging.Level level = endpointLog.getLevel();
            java.util.logging.Handler handler = new java.util.logging.Handler() {
                @Override
                public void publish(java.util.logging.LogRecord r) {
                    if (r.getMessage() != null && r.getMessage().contains("the operator hung up")) {
                        hungUp.complete(r.getMessage());
                    }
                }

                @Override
                public void flush() { }

                @Override
                public void close() { }
            };
            endpointLog.setLevel(java.util.logging.Level.INFO);
            endpointLog.addHandler(handler);
            try {
                call.get().cancel("the operator pressed Ctrl-C", null);
                hungUp.get(20, java.util.concurrent.TimeUnit.SECONDS);
            } finally {
                endpointLog.removeHandler(handler);
                endpointLog.setLevel(level);
            }
        } finally {
            busy.close();
        }
        // The create goes on without its operator: the VM is made, and its claim is the only one.
        await("api recorded (a claim without its VM holds hv1's capacity and the name until a restart)",
                () -> fleet.controller().vms().list().stream().anyMatch(v -> v.getSpec().getName().equals("api")));
        awaitDomain("hv1", "api", d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING);
        await("api ready", () -> fleet.controller().vms().list().stream()
                .anyMatch(v -> v.getSpec().getName().equals("api") && v.getPhase().name().equals("VM_PHASE_READY")));
        assertEquals(List.of("api"), fleet.controller().scheduler().claims().stream().map(c -> c.vmName()).toList());
    }

    private Optional<DomainInfo> domainOn(String host, String vm) {
        return operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .filter(h -> h.getName().equals(host)).flatMap(h -> h.getReport().getDomainsList().stream())
                .filter(d -> d.getName().equals(vm)).findFirst();
    }

    private DomainInfo awaitDomain(String host, String vm, java.util.function.Predicate<DomainInfo> ok) throws Exception {
        await(vm + " on " + host, () -> domainOn(host, vm).filter(ok).isPresent());
        return domainOn(host, vm).orElseThrow();
    }

    private static void await(String what, java.util.function.BooleanSupplier done) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.sleep(50);
        }
    }
}
