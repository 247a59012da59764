package io.virtfleet.controller.adopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.install.BootMode;
import io.virtfleet.controller.install.BootSettings;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.HangOnCall;
import io.virtfleet.controller.testkit.OnAgentCall;
import io.virtfleet.proto.v1.AdoptDomainRequest;
import io.virtfleet.proto.v1.AdoptVmsRequest;
import io.virtfleet.proto.v1.AdoptVmsResponse;
import io.virtfleet.proto.v1.Adoption;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ReadDomainRequest;
import io.virtfleet.proto.v1.ReadDomainResponse;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.Vm;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code virtfleet adopt} refuses, and what it leaves behind when it refuses or is cut short, on an embedded fleet:
 * the controller and three agents on libvirt test-driver nodes, a real single-node Ceph for the RBD disks, real raw
 * image files made with {@code qemu-img} in the agents' images directories. Each domain is written into its node as
 * hand-written XML, as {@code virsh define} would leave it (the test driver loads it when the agent connects): virtfleet
 * never defined it. The test driver has no QEMU: a "running" domain is libvirt's state only, and domains are of type
 * {@code test}, with no {@code <emulator>}.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AdoptSafetyTest {
    private static final Duration LIMIT = Duration.ofSeconds(60);
    private static final String TEST_NS = "http://libvirt.org/schemas/domain/test/1.0";
    private static final List<String> HOSTS = List.of("hv1", "hv2", "hv3");

    @TempDir
    static Path cephDir;
    private static CephCluster ceph;

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients admin;
    private Clients asController;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeAll
    static void startCeph() throws Exception {
        assertTrue(CephCluster.installed(), "needs " + CephCluster.PACKAGES + " (deploy/dev/install-deps.sh)");
        ceph = CephCluster.start(cephDir);
    }

    @AfterAll
    static void stopCeph() {
        if (ceph != null) {
            ceph.close();
        }
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

    // ---- the fleet and its hand-made domains ------------------------------------------------------------------

    /** Starts hv1..hv3, each with the hand-written domains given for it. */
    private void start(Map<String, List<String>> byHand, java.util.function.UnaryOperator<EmbeddedFleet.Builder> more)
            throws Exception {
        List<TestDriverNode> nodes = new ArrayList<>();
        for (String h : HOSTS) {
            TestDriverNode node = new TestDriverNode(h, 8, 16384);
            byHand.getOrDefault(h, List.of()).forEach(node::definedByHand);
            nodes.add(node);
        }
        // No reconciliation pass during a test: what a test sees is adoption's doing only.
        fleet = more.apply(EmbeddedFleet.builder(work).nodes(nodes).ceph(ceph).heartbeat(Duration.ofMillis(200))
                .grace(Duration.ofSeconds(1)).reconcileInterval(Duration.ofHours(1))).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        admin = Clients.as(fleet.adminCredentials());
        asController = Clients.as(fleet.controller().pki().credentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        Await.until("every host ready with its domains reported", LIMIT, () -> HOSTS.stream().allMatch(h ->
                state(h) == HostState.HOST_STATE_READY && report(h).size() == byHand.getOrDefault(h, List.of()).size()));
    }

    private void start(Map<String, List<String>> byHand) throws Exception {
        start(byHand, b -> b);
    }

    private static String uuid(int n) {
        return String.format("6b1e1f52-3c3b-4f0c-9d8e-1b0e6f3f%04x", n);
    }

    private static String mac(int n) {
        return String.format("52:54:00:aa:bb:%02x", n);
    }

    /** A domain as the runbook's helper wrote it: one disk, one NIC on LAN 10's bridge. */
    private static String domain(String name, String uuid, String disk, String mac, boolean running) {
        return "<domain type='test'><name>" + name + "</name><uuid>" + uuid + "</uuid>"
                + "<memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices>"
                + disk + "<interface type='bridge'><mac address='" + mac + "'/><source bridge='vxbr10'/>"
                + "<model type='virtio'/></interface></devices>"
                + (running ? "" : "<test:runstate xmlns:test='" + TEST_NS + "'>5</test:runstate>") + "</domain>";
    }

    /** An RBD disk in the ssd tier's pool; the image is made in Ceph, 1 GiB (the smallest disk virtfleet accepts). */
    private static String rbdDisk(String name) {
        if (ceph.rbd("info", CephCluster.SSD_POOL + "/" + name).exitCode() != 0) {
            Command.Result made = ceph.rbd("create", "--size", "1024", CephCluster.SSD_POOL + "/" + name);
            assertEquals(0, made.exitCode(), made.stderr());
        }
        return "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='"
                + CephCluster.SSD_POOL + "/" + name + "'/><target dev='vda' bus='virtio'/></disk>";
    }

    /** A raw disk file (1 GiB, sparse) in {@code host}'s images directory, made with qemu-img as the runbook's operators do. */
    private String rawDisk(String host, String name) throws Exception {
        Path images = Files.createDirectories(work.resolve("agents").resolve(host).resolve("images"));
        Path file = images.resolve(name + ".img");
        Command.Result made = Command.of("qemu-img", "create", "-f", "raw", file.toString(), "1G").run();
        assertEquals(0, made.exitCode(), made.stderr());
        return "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + file
                + "'/><target dev='vda' bus='virtio'/></disk>";
    }

    // ---- what the fleet says ------------------------------------------------------------------------------------

    private HostState state(String host) {
        var registry = fleet.controller().registry();
        return registry.get(host).map(h -> fleet.controller().liveness().judge(h, registry.nanoTime()).state())
                .orElse(HostState.HOST_STATE_UNSPECIFIED);
    }

    private List<DomainInfo> report(String host) {
        return fleet.controller().registry().get(host).map(h -> h.report().getDomainsList()).orElse(List.of());
    }

    private Optional<DomainInfo> reported(String host, String vm) {
        return report(host).stream().filter(d -> d.getName().equals(vm)).findFirst();
    }

    /** The agent's ledger of the domains virtfleet defined (or adopted) on {@code host}, as its file holds it. */
    private SortedMap<String, DefinitionLedger.Entry> ledger(String host) {
        return DefinitionLedger.load(work.resolve("agents").resolve(host)).all();
    }

    private AgentGrpc.AgentBlockingStub agent(String host) {
        return AgentGrpc.newBlockingStub(asController.agent(new Endpoint("127.0.0.1", fleet.agent(host).port()), host))
                .withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private ReadDomainResponse read(String host, String vm) {
        return agent(host).readDomain(ReadDomainRequest.newBuilder().setVmName(vm).build());
    }

    private AdoptVmsResponse adopt(AdoptVmsRequest.Builder request) {
        return operator.withDeadlineAfter(2, TimeUnit.MINUTES).adoptVms(request.build());
    }

    private static Adoption entry(AdoptVmsResponse r, String vm) {
        return r.getAdoptionsList().stream().filter(a -> a.getVm().equals(vm)).findFirst()
                .orElseThrow(() -> new AssertionError(vm + " not listed: " + r));
    }

    private static void assertRefused(AdoptVmsResponse r, String vm, String... words) {
        Adoption a = entry(r, vm);
        assertFalse(a.getAdopted(), vm + " must be refused: " + a);
        for (String w : words) {
            assertTrue(a.getRefusal().contains(w), vm + "'s reason must say \"" + w + "\": " + a.getRefusal());
        }
    }

    private String head() throws Exception {
        return fleet.controller().vmStore().repo().head();
    }

    /** Waits until every running host's sync has reached the repository's head. */
    private void awaitSynced() throws Exception {
        String head = head();
        Await.until("every host synced to " + head, LIMIT, () -> HOSTS.stream().filter(h -> fleet.agent(h) != null)
                .allMatch(h -> head.equals(fleet.agent(h).sync().status().syncedCommit())));
    }

    // ---- 1 and 3: fresh word of every host; nothing changed on the others --------------------------------------

    /** Starts a domain on the host it intercepts the moment the controller asks that host to read it. */
    private final class StartOnRead extends OnAgentCall {
        private final String host;
        private final String vm;
        final AtomicBoolean armed = new AtomicBoolean();
        final AtomicReference<String> started = new AtomicReference<>();

        StartOnRead(String host, String vm) {
            this.host = host;
            this.vm = vm;
        }

        @Override
        protected Status arrived(String method) {
            if (method.equals(AgentGrpc.getReadDomainMethod().getFullMethodName()) && armed.compareAndSet(true, false)) {
                // As an operator's "virsh start" on that host would, after its last report and before the read.
                started.set(agent(host).setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName(vm)
                        .setRunning(true).build()).getDetail());
            }
            return null;
        }
    }

    @Test
    void aCephDomainStartedOnASecondHostSinceItsReportIsRefusedAndNoHostIsChanged() throws Exception {
        String db = domain("db", uuid(1), rbdDisk("db"), mac(1), true);
        String dbStopped = domain("db", uuid(1), rbdDisk("db"), mac(1), false);
        StartOnRead startOnHv2 = new StartOnRead("hv2", "db");
        start(Map.of("hv1", List.of(db), "hv2", List.of(dbStopped)),
                b -> b.apiInterceptors("hv2", List.of(startOnHv2)));
        assertEquals(DomainState.DOMAIN_STATE_SHUTOFF, reported("hv2", "db").orElseThrow().getState());
        String xmlOnHv2 = read("hv2", "db").getDomainXml();
        String headBefore = head();

        startOnHv2.armed.set(true);
        AdoptVmsResponse r = adopt(AdoptVmsRequest.newBuilder());
        assertEquals("started db", startOnHv2.started.get(), "hv2 was asked, and db started there before its read");
        assertRefused(r, "db", "runs on hv2 too", "besides hv1", "two QEMUs on one disk");
        assertEquals("hv1", entry(r, "db").getHomeHost(), "the reports' home, read fresh: " + r);

        assertTrue(fleet.controller().vmStore().get("db").isEmpty(), "nothing recorded");
        assertEquals(headBefore, head(), "no commit");
        for (String h : HOSTS) {
            assertEquals(Map.of(), ledger(h), h + "'s ledger untouched");
        }
        assertEquals(xmlOnHv2, read("hv2", "db").getDomainXml(), "hv2's definition untouched");
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, read("hv1", "db").getState(), "hv1's db runs on");
    }

    @Test
    void aHostWhoseWordIsOldStopsTheAdoptionOfACephDomainNamingIt() throws Exception {
        start(Map.of("hv1", List.of(domain("db", uuid(2), rbdDisk("db"), mac(2), true))));
        fleet.stopAgent("hv3");
        Await.until("hv3 no longer ready", LIMIT, () -> state("hv3") != HostState.HOST_STATE_READY
                && state("hv3") != HostState.HOST_STATE_DRAINING);

        AdoptVmsResponse r = adopt(AdoptVmsRequest.newBuilder());
        assertRefused(r, "db", "whether it runs elsewhere is unknown", "hv3 (",
                "adopt once every registered host is ready");
        assertFalse(entry(r, "db").getRefusal().contains("hv2"), "hv2 answers for itself: " + entry(r, "db"));
        assertTrue(fleet.controller().vmStore().get("db").isEmpty(), "nothing recorded");
        for (String h : List.of("hv1", "hv2")) {
            assertEquals(Map.of(), ledger(h), h + "'s ledger untouched");
        }

        // Once hv3 answers again, the same domain is adoptable: the refusal was hv3's silence, nothing else.
        fleet.startAgent("hv3");
        fleet.awaitRegistered(Duration.ofSeconds(30));
        Await.until("hv3 ready again", LIMIT, () -> state("hv3") == HostState.HOST_STATE_READY);
        Adoption dry = entry(adopt(AdoptVmsRequest.newBuilder().setDryRun(true)), "db");
        assertTrue(dry.getAdopted(), dry.toString());
        assertEquals(List.of("hv2", "hv3"), dry.getReplicaHostsList());
    }

    @Test
    void twoRunningCopiesAreRefusedAndAStoppedDomainDefinedTwiceIsAdoptedWhereHostSays() throws Exception {
        String twice = domain("twice", uuid(3), rbdDisk("twice"), mac(3), true);
        String spare = domain("spare", uuid(4), rbdDisk("spare"), mac(4), false);
        start(Map.of("hv1", List.of(twice, spare), "hv2", List.of(twice, spare)));
        String spareOnHv1 = read("hv1", "spare").getDomainXml();

        AdoptVmsResponse all = adopt(AdoptVmsRequest.newBuilder());
        assertRefused(all, "twice", "runs on hv1 and hv2 at once");
        assertRefused(all, "spare", "stopped, and defined on hv1, hv2", "--host");
        assertEquals(List.of(), fleet.controller().vmStore().all(), "nothing recorded");

        AdoptVmsResponse onHv2 = adopt(AdoptVmsRequest.newBuilder().setHost("hv2"));
        assertRefused(onHv2, "twice", "runs on hv1 and hv2 at once");
        Adoption adopted = entry(onHv2, "spare");
        assertTrue(adopted.getAdopted(), adopted.toString());
        assertEquals("hv2", adopted.getHomeHost());
        assertFalse(adopted.getRunning());
        assertTrue(adopted.getNotesList().stream().anyMatch(n -> n.startsWith("hv1 holds the runbook's copy")),
                adopted.getNotesList().toString());
        Vm vm = fleet.controller().vmStore().get("spare").orElseThrow();
        assertEquals("hv2", vm.getHomeHost());
        assertTrue(vm.getSpec().getReplicated(), "recorded replicated once hv2 held it: " + vm);
        DefinitionLedger.Entry home = ledger("hv2").get("spare");
        assertFalse(home == null || home.replica(), "hv2 holds it as its home: " + ledger("hv2"));

        // hv1's stopped runbook copy becomes virtfleet's replica at its sync; "twice" stays nobody's anywhere.
        awaitSynced();
        DefinitionLedger.Entry replica = ledger("hv1").get("spare");
        assertTrue(replica != null && replica.replica() && !replica.autostart(), "hv1: " + ledger("hv1"));
        assertEquals(spareOnHv1, read("hv1", "spare").getDomainXml(), "the replica is the repository's text, libvirt's");
        for (String h : HOSTS) {
            assertFalse(ledger(h).containsKey("twice"), h + ": " + ledger(h));
        }
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, read("hv1", "twice").getState());
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, read("hv2", "twice").getState());
    }

    /**
     * Holds the AdoptDomain call of a home host while armed, then refuses it as a host whose libvirtd restarts would:
     * the window in which the other hosts' syncs see the first commit of an adoption that is then undone.
     */
    private static final class HoldThenRefuse extends OnAgentCall {
        final java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.atomic.AtomicInteger held = new java.util.concurrent.atomic.AtomicInteger();

        @Override
        protected Status arrived(String method) {
            if (!method.equals(AgentGrpc.getAdoptDomainMethod().getFullMethodName())) {
                return null;
            }
            held.incrementAndGet();
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return Status.UNAVAILABLE.withDescription("libvirtd restarting (the test)");
        }
    }

    @Test
    void anAdoptionItsHomeRefusesIsUndoneOnItsHomeAndNeverTouchesTheOtherHosts() throws Exception {
        HoldThenRefuse refuse = new HoldThenRefuse();
        start(Map.of("hv1", List.of(domain("db", uuid(30), rbdDisk("db"), mac(30), true)),
                "hv2", List.of(domain("db", uuid(30), rbdDisk("db"), mac(30), false))),
                b -> b.apiInterceptors("hv1", List.of(refuse)));
        String xmlOnHv2 = read("hv2", "db").getDomainXml();
        String headBefore = head();

        AtomicReference<Object> answer = new AtomicReference<>();
        Thread run = new Thread(() -> {
            try {
                answer.set(adopt(AdoptVmsRequest.newBuilder()));
            } catch (RuntimeException e) {
                answer.set(e);
            }
        }, "adopt");
        run.start();
        Await.until("hv1 asked to take db over", LIMIT, () -> refuse.held.get() == 1);
        Vm firstPhase = fleet.controller().vmStore().get("db").orElseThrow();
        assertFalse(firstPhase.getSpec().getReplicated(), "first committed for its home only: " + firstPhase);
        awaitSynced(); // hv2 and hv3 have seen that commit
        assertEquals(Map.of(), ledger("hv2"), "hv2's runbook copy is not virtfleet's yet");
        assertEquals(xmlOnHv2, read("hv2", "db").getDomainXml());

        refuse.gate.countDown();
        Await.until("the adoption answered", LIMIT, () -> answer.get() != null);
        assertTrue(answer.get() instanceof AdoptVmsResponse, String.valueOf(answer.get()));
        assertRefused((AdoptVmsResponse) answer.get(), "db", "host hv1 refused to take it over (UNAVAILABLE",
                "its record was removed again");
        assertTrue(fleet.controller().vmStore().get("db").isEmpty(), "the record is removed");
        assertFalse(head().equals(headBefore), "the adoption and its undoing are in the history");
        awaitSynced();
        for (String h : HOSTS) {
            assertEquals(Map.of(), ledger(h), h + "'s ledger as before");
        }
        assertEquals(xmlOnHv2, read("hv2", "db").getDomainXml(), "hv2's runbook copy is still defined, as it was");
        assertEquals(DomainState.DOMAIN_STATE_SHUTOFF, read("hv2", "db").getState());
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, read("hv1", "db").getState());
    }

    // ---- 2: a run cut short, and the orphan it could leave ----------------------------------------------------

    @Test
    void aRunTheOperatorCancelsGoesOnToItsEndWithNothingHalfDone() throws Exception {
        HangOnCall hang = new HangOnCall(List.of(AgentGrpc.getAdoptDomainMethod()));
        start(Map.of("hv1", List.of(domain("alpha", uuid(5), rawDisk("hv1", "alpha"), mac(5), true),
                domain("beta", uuid(6), rawDisk("hv1", "beta"), mac(6), false))),
                b -> b.apiInterceptors("hv1", List.of(hang)));

        hang.arm();
        AtomicReference<Throwable> ended = new AtomicReference<>();
        Context.CancellableContext call = Context.current().withCancellation();
        call.run(() -> FleetGrpc.newStub(admin.controller(fleet.controllerEndpoint())).adoptVms(
                AdoptVmsRequest.getDefaultInstance(), new StreamObserver<>() {
                    @Override
                    public void onNext(AdoptVmsResponse value) {
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.set(t);
                    }

                    @Override
                    public void onCompleted() {
                        ended.set(new AssertionError("completed although cancelled"));
                    }
                }));
        Await.until("alpha's AdoptDomain reached hv1", LIMIT, () -> hang.hanging() == 1);
        assertTrue(fleet.controller().vmStore().get("alpha").isPresent(), "alpha's record is committed first");
        call.cancel(null); // the operator's Ctrl-C
        Await.until("the operator's call ended", LIMIT, () -> ended.get() != null);
        assertEquals(Status.Code.CANCELLED, Status.fromThrowable(ended.get()).getCode(), ended.get().toString());
        hang.release();

        Await.until("both adopted, record and ledger alike", LIMIT, () -> fleet.controller().vmStore().get("beta")
                .isPresent() && ledger("hv1").containsKey("beta"));
        for (String vm : List.of("alpha", "beta")) {
            Vm recorded = fleet.controller().vmStore().get(vm).orElseThrow(() -> new AssertionError(vm + " not recorded"));
            assertEquals("hv1", recorded.getHomeHost());
            DefinitionLedger.Entry e = ledger("hv1").get(vm);
            String xml = fleet.controller().vmStore().domainXml(vm).orElseThrow();
            assertTrue(e != null && !e.replica() && e.sourceSha256().equals(Sha256.hex(xml)),
                    vm + ": hv1 holds the repository's text as its home: " + ledger("hv1"));
        }
        assertTrue(fleet.controller().vmStore().get("alpha").orElseThrow().getRunningWanted());
        assertFalse(fleet.controller().vmStore().get("beta").orElseThrow().getRunningWanted());
    }

    @Test
    void aDomainItsHomeHoldsWithoutARecordIsACandidateAgain() throws Exception {
        start(Map.of("hv1", List.of(domain("gamma", uuid(7), rawDisk("hv1", "gamma"), mac(7), true))));
        // What a controller leaves when it lost its answer after the agent took the domain over (and its record was
        // removed): the agent's ledger holds it as a home, virtfleet has no record of it.
        ReadDomainResponse read = read("hv1", "gamma");
        agent("hv1").adoptDomain(AdoptDomainRequest.newBuilder().setVmName("gamma").setDomainXml(read.getDomainXml())
                .setAutostart(true).build());
        Await.until("hv1 reports gamma as defined by virtfleet", LIMIT,
                () -> reported("hv1", "gamma").map(d -> !d.getSourceSha256().isEmpty()).orElse(false));
        assertTrue(fleet.controller().vmStore().get("gamma").isEmpty());

        AdoptVmsResponse r = adopt(AdoptVmsRequest.newBuilder());
        Adoption a = entry(r, "gamma");
        assertTrue(a.getAdopted(), a.toString());
        assertTrue(a.getNotesList().stream().anyMatch(n -> n.contains("already adopted as given")), a.toString());
        assertEquals("hv1", fleet.controller().vmStore().get("gamma").orElseThrow().getHomeHost());
        assertEquals(Sha256.hex(fleet.controller().vmStore().domainXml("gamma").orElseThrow()),
                ledger("hv1").get("gamma").sourceSha256());
    }

    /**
     * What a controller that failed or died during an adoption's second phase leaves: the record committed for the
     * home only (not replicated), with libvirt's definition. For "db" its home's agent took the domain over (the
     * crash came after AdoptDomain); for "app" it never did (the crash came before).
     */
    private void leftUnfinished(String vm, boolean homeTookIt) throws Exception {
        Adoption planned = entry(adopt(AdoptVmsRequest.newBuilder().setDryRun(true)), vm);
        assertTrue(planned.getAdopted(), planned.toString());
        String xml = read("hv1", vm).getDomainXml();
        Vm firstPhase = Vm.newBuilder().setSpec(planned.getSpec().toBuilder().setReplicated(false)).setHomeHost("hv1")
                .setRunningWanted(planned.getRunning()).setDisk(planned.getDisk()).setNetwork(planned.getNetwork()).build();
        fleet.controller().vmStore().save(firstPhase, xml, "adopt " + vm + " on hv1 (a domain defined by hand)", "admin");
        if (homeTookIt) {
            agent("hv1").adoptDomain(AdoptDomainRequest.newBuilder().setVmName(vm).setDomainXml(xml).setAutostart(true)
                    .build());
            Await.until("hv1 reports " + vm + " as defined by virtfleet", LIMIT,
                    () -> reported("hv1", vm).map(d -> !d.getSourceSha256().isEmpty()).orElse(false));
        }
    }

    @Test
    void anAdoptionLeftBeforeItsSecondPhaseIsFinishedByTheNextRun() throws Exception {
        start(Map.of("hv1", List.of(domain("db", uuid(40), rbdDisk("db"), mac(40), true),
                        domain("app", uuid(41), rbdDisk("app"), mac(41), true)),
                "hv2", List.of(domain("db", uuid(40), rbdDisk("db"), mac(40), false))));
        leftUnfinished("db", true);
        leftUnfinished("app", false);
        awaitSynced();
        assertEquals(List.of("db"), List.copyOf(ledger("hv1").keySet()), "hv1 took db over only");
        assertEquals(Map.of(), ledger("hv2"), "the runbook's copy on hv2 is nobody's yet");

        AdoptVmsResponse dry = adopt(AdoptVmsRequest.newBuilder().setDryRun(true));
        for (String vm : List.of("db", "app")) {
            Adoption a = entry(dry, vm);
            assertTrue(a.getAdopted(), "the dry run would finish it: " + a);
            assertTrue(a.getNotesList().stream().anyMatch(n -> n.contains("left unfinished")), a.toString());
            assertFalse(fleet.controller().vmStore().get(vm).orElseThrow().getSpec().getReplicated(), "dry: unchanged");
        }

        AdoptVmsResponse r = adopt(AdoptVmsRequest.newBuilder());
        for (String vm : List.of("db", "app")) {
            Adoption a = entry(r, vm);
            assertTrue(a.getAdopted(), "finished, not refused as someone else's: " + a);
            assertEquals("hv1", a.getHomeHost());
            assertEquals(List.of("hv2", "hv3"), a.getReplicaHostsList());
            Vm recorded = fleet.controller().vmStore().get(vm).orElseThrow();
            assertTrue(recorded.getSpec().getReplicated(), "its second phase committed: " + recorded);
            assertEquals("hv1", recorded.getHomeHost());
            var claim = fleet.controller().scheduler().claimOf(vm);
            assertTrue(claim != null && claim.host().equals("hv1"), vm + " claimed on hv1: " + claim);
        }
        assertTrue(entry(r, "db").getNotesList().stream().anyMatch(n -> n.startsWith("hv2 holds the runbook's copy")),
                entry(r, "db").toString());
        awaitSynced();
        for (String vm : List.of("db", "app")) {
            DefinitionLedger.Entry home = ledger("hv1").get(vm);
            assertTrue(home != null && !home.replica(), vm + ": hv1 holds it as its home: " + ledger("hv1"));
            assertEquals(Sha256.hex(fleet.controller().vmStore().domainXml(vm).orElseThrow()), home.sourceSha256());
            assertEquals(DomainState.DOMAIN_STATE_RUNNING, read("hv1", vm).getState(), vm + " runs on, on hv1");
            for (String other : List.of("hv2", "hv3")) {
                DefinitionLedger.Entry replica = ledger(other).get(vm);
                assertTrue(replica != null && replica.replica() && !replica.autostart(), other + ": " + ledger(other));
                assertEquals(DomainState.DOMAIN_STATE_SHUTOFF, read(other, vm).getState());
            }
        }
        assertEquals(fleet.controller().vmStore().domainXml("db").orElseThrow(), read("hv2", "db").getDomainXml(),
                "hv2's copy is now the repository's text, libvirt's");

        // Finished: the next run has nothing left to do for them.
        AdoptVmsResponse again = adopt(AdoptVmsRequest.newBuilder());
        assertTrue(again.getAdoptionsList().stream().noneMatch(a -> a.getVm().equals("db") || a.getVm().equals("app")),
                again.toString());
    }

    // ---- 4: the UUID and the MAC of a VM virtfleet has ---------------------------------------------------------

    @Test
    void uuidAndMacClashesAreRefusedWithTheReason() throws Exception {
        start(Map.of(
                "hv1", List.of(domain("web", uuid(10), rawDisk("hv1", "web"), mac(10), true)),
                "hv3", List.of(domain("left", uuid(13), rawDisk("hv3", "left"), mac(13), false),
                        domain("right", uuid(14), rawDisk("hv3", "right"), mac(13), false),
                        domain("one", uuid(15), rawDisk("hv3", "one"), mac(15), false))));
        assertTrue(entry(adopt(AdoptVmsRequest.newBuilder().setHost("hv1")), "web").getAdopted());

        // Then domains are defined on hv2 by hand: the runbook's copy of web's XML under another name (web's UUID),
        // one with web's MAC, one with one's UUID (libvirt refuses one UUID twice on a host; on two hosts it cannot
        // know). The test driver loads its node when the agent connects: hv2's agent starts again on the new node.
        fleet.stopAgent("hv2");
        new TestDriverNode("hv2", 8, 16384)
                .definedByHand(domain("copy", uuid(10), rawDisk("hv2", "copy"), mac(11), false))
                .definedByHand(domain("twin", uuid(12), rawDisk("hv2", "twin"), mac(10), false))
                .definedByHand(domain("two", uuid(15), rawDisk("hv2", "two"), mac(16), false))
                .writeTo(work.resolve("nodes"));
        fleet.startAgent("hv2");
        fleet.awaitRegistered(Duration.ofSeconds(30));
        Await.until("hv2 reports its 3 domains", LIMIT, () -> state("hv2") == HostState.HOST_STATE_READY
                && report("hv2").size() == 3);

        AdoptVmsResponse r = adopt(AdoptVmsRequest.newBuilder());
        assertRefused(r, "copy", "UUID " + uuid(10) + " is VM web's already", "new <uuid>");
        assertRefused(r, "twin", "MAC " + mac(10) + " on vxbr10 is VM web's already");
        assertTrue(entry(r, "left").getAdopted(), entry(r, "left").toString());
        assertRefused(r, "right", "MAC " + mac(13) + " on vxbr10 is also that of left, adopted in this run");
        assertRefused(r, "one", "UUID " + uuid(15) + " is also that of domain two");
        assertRefused(r, "two", "UUID " + uuid(15) + " is also that of domain one");
        Map<String, Boolean> recorded = new LinkedHashMap<>();
        for (String vm : List.of("web", "copy", "twin", "left", "right", "one", "two")) {
            recorded.put(vm, fleet.controller().vmStore().get(vm).isPresent());
        }
        assertEquals(Map.of("web", true, "copy", false, "twin", false, "left", true, "right", false, "one", false,
                "two", false), recorded);
        assertEquals(List.of("left"), List.copyOf(ledger("hv3").keySet()), "hv3 holds left only");
        assertEquals(Map.of(), ledger("hv2"), "hv2 holds nothing");
    }

    // ---- 5: reinstall ----------------------------------------------------------------------------------------

    @Test
    void anAdoptedVmIsNotReinstalled() throws Exception {
        Path tftp = Files.createDirectories(work.resolve("tftp"));
        int port;
        try (var socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        BootSettings boot = new BootSettings(BootMode.PXE, tftp, new InetSocketAddress("127.0.0.1", port),
                "http://127.0.0.1:" + port);
        start(Map.of("hv1", List.of(domain("web", uuid(20), rawDisk("hv1", "web"), mac(20), true))),
                b -> b.provisioning(p -> p.withBoot(boot)));
        assertTrue(entry(adopt(AdoptVmsRequest.newBuilder()), "web").getAdopted());
        String headBefore = head();
        String xmlBefore = fleet.controller().vmStore().domainXml("web").orElseThrow();

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> operator.withDeadlineAfter(2,
                TimeUnit.MINUTES).reinstallVm(ReinstallVmRequest.newBuilder().setName("web").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains("VM web was adopted (its domain keeps the UUID " + uuid(20))
                && e.getStatus().getDescription().contains("virtfleet does not reinstall an adopted VM"),
                e.getStatus().getDescription());
        assertEquals(headBefore, head(), "no commit");
        assertEquals(xmlBefore, fleet.controller().vmStore().domainXml("web").orElseThrow());
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, read("hv1", "web").getState(), "web runs on, untouched");
    }
}
