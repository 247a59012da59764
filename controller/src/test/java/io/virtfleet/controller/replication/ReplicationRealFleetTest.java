package io.virtfleet.controller.replication;

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
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.Drift;
import io.virtfleet.proto.v1.DriftKind;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostSync;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.SyncHostsRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmHistory;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.LibvirtException;

/**
 * Replication on real components: five simulated hypervisors, each a network namespace of its own on one underlay
 * switch with a real libvirtd (QEMU/TCG) and a real {@code virtfleet-agent} JVM inside it (so cutting a host's
 * cable partitions its agent for real); a real single-node Ceph for the replicated VMs' disks; the controller in a
 * JVM of its own, so it can be killed in the middle of a fan-out and started again on the same data. The test
 * speaks to it as an operator over mutual TLS (the Fleet API and the {@code virtfleet} CLI) and checks every claim
 * on the hosts' libvirtds themselves.
 *
 * <p>What it proves, in order (each scenario builds on the fleet the previous one left):
 * <ol>
 *   <li>a replicated create defines the VM on all five hosts (autostart off, never started, the home host's UUID)
 *       and runs it on exactly one, and the operator is told each host's result;
 *   <li>a host whose cable is cut during the fan-out is reported as catching up while the four others are in step;
 *       once the cable is back it converges with nobody acting (its agent syncs to the commit heartbeats name);
 *   <li>a replica changed by hand (virsh define) is reported as drift and put back by a sync; a running one is
 *       reported and left alone;
 *   <li>a controller killed right after the first host answered a fan-out comes back to a fleet that converges:
 *       every host holds the replica, one runs it; with its reconciler on, a hand edit is repaired with nobody
 *       acting;
 *   <li>a replica started elsewhere by hand (a failover) and changed is kept and reported by the sync; once shut off
 *       again, the reconciler puts the repository's definition back by itself;
 *   <li>a delete removes the definitions from every host.
 * </ol>
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReplicationRealFleetTest {
    private static final List<String> HOSTS = List.of("hv1", "hv2", "hv3", "hv4", "hv5");
    private static final String UNDERLAY = "10.249.2";
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration GRACE = Duration.ofSeconds(2);
    /** Short, so the partitioned host's call gives up soon; a sync takes well under a second on an idle machine, seconds on a loaded one. */
    private static final Duration SYNC_DEADLINE = Duration.ofSeconds(8);
    /**
     * No reconciler pass at first, so what repairs drift in scenarios 1–3 is the sync the test asks for, never a
     * pass racing the test's look at the drift; the controller restarted in scenario 4 reconciles every 2 s.
     */
    private static final Duration NO_RECONCILE = Duration.ofHours(1);
    private static final Duration RECONCILE = Duration.ofSeconds(2);
    /**
     * How long the agents trust what they read of a definition: a hand edit shows as drift this late at most. The
     * scenarios wait for hand edits to be seen four times; the default (10 s) would be waited out each time.
     */
    private static final Duration DEFINITION_REFRESH = Duration.ofSeconds(1);
    /** Bound on every "converges by itself" wait. */
    private static final Duration CONVERGE = Duration.ofSeconds(60);
    private static final int VIR_DOMAIN_XML_INACTIVE = 2;

    @TempDir
    static Path work;

    private static HypervisorRack rack;
    private static ControllerJvm.Settings settings;
    private static ControllerJvm controller;
    private static final List<ControllerJvm> controllers = new ArrayList<>();
    private static Clients admin;
    private static FleetGrpc.FleetBlockingStub operator;
    private static final long t0 = System.nanoTime();

    @BeforeAll
    static void fiveHypervisorsCephAndAController() throws Exception {
        rack = HypervisorRack.start(work.resolve("rack"), UNDERLAY, HOSTS, ReplicationRealFleetTest::lap);
        settings = new ControllerJvm.Settings(work.resolve("controller"), 0, HEARTBEAT, GRACE, NO_RECONCILE, Map.of())
                .withListenHost(rack.controllerAddress()).withSyncDeadline(SYNC_DEADLINE)
                .withCephMonitors(List.of(rack.ceph().monitor()));
        startController(settings);
        admin = Clients.as(settings.dataDir().resolve("pki").resolve("admin.pem"));
        operator = FleetGrpc.newBlockingStub(admin.controller(controller.endpoint()));
        rack.startAgents(controller.endpoint(), host -> operator.withDeadlineAfter(30, TimeUnit.SECONDS)
                .createJoinToken(CreateJoinTokenRequest.newBuilder().setHostName(host).setTtlSeconds(600).build()).getToken(),
                HEARTBEAT, host -> List.of("--definition-refresh", DEFINITION_REFRESH.toSeconds() + "s"));
        awaitHostsReady();
        lap("fleet ready: five agents registered from their namespaces");
    }

    @AfterAll
    static void stopEverything() {
        try {
            if (admin != null) {
                admin.close();
            }
            controllers.forEach(ControllerJvm::close);
        } finally {
            if (rack != null) {
                rack.close();
            }
            lap("cleaned up");
        }
    }

    @Test
    @Order(1)
    void aReplicatedCreateDefinesTheVmOnAllFiveHostsAndRunsItOnOne() throws Exception {
        List<VmProgress> steps = create(spec("web"));
        lap("created web: " + describe(steps));

        String home = steps.get(0).getHost();
        assertEquals("placed", steps.get(0).getStep());
        Map<String, String> replicated = replicatedSteps(steps);
        assertEquals(HOSTS, List.copyOf(replicated.keySet()), "one fan-out result per host: " + describe(steps));
        for (String host : HOSTS) {
            if (!host.equals(home)) {
                // A host may have caught up by itself (its heartbeat named the new commit) just before the call arrived.
                assertTrue(replicated.get(host).matches("(defined web|in step) at [0-9a-f]{12}.*"),
                        host + ": " + replicated.get(host));
            }
        }
        VmProgress done = steps.get(steps.size() - 1);
        assertEquals("done", done.getStep());
        assertEquals("web is running on " + home + "; defined on 4 of 4 other hosts", done.getDetail());

        assertRunsOnOneAndIsReplicatedOnTheOthers("web", home);
        for (String host : HOSTS) {
            // A replica is only worth having where QEMU could open its RBD disk: the sync keeps the cephx key too.
            assertTrue(hasCephSecret(host), host + " holds the libvirt secret 'client.libvirt secret'");
        }
        await("the controller lists web's four replicas", () -> vm("web").getReplicaHostsList()
                .equals(HOSTS.stream().filter(h -> !h.equals(home)).toList()));
        awaitInStep();
        CliRun drift = cli("drift", "--exit-code");
        assertEquals(ExitCode.OK, drift.code(), drift.out() + drift.err());
        assertTrue(drift.out().contains("5 of 5 hosts in step") && drift.out().contains("No domain differs"), drift.out());
    }

    @Test
    @Order(2)
    void aHostCutOffDuringTheFanOutIsReportedBehindAndCatchesUpByItselfOnceBack() throws Exception {
        rack.cut("hv5"); // the controller still counts it ready: its call goes out and gets no answer
        try {
            whileCutOff();
        } finally {
            rack.mend("hv5");
        }
        long mended = System.nanoTime();
        await("hv5 defines db by itself once its cable is back", () -> domainOn("hv5", "db").isPresent());
        lap("hv5 caught up " + (System.nanoTime() - mended) / 1_000_000 + " ms after its cable was back");
        assertReplica("hv5", "db");
        // web (scenario 1) went wherever placement chose, hv5 included: the cut must not have changed either role.
        assertRunsOnOneAndIsReplicatedOnTheOthers("web", vm("web").getHomeHost());
        awaitInStep();
    }

    /** The create, and what the operator sees while hv5 is cut off. */
    private static void whileCutOff() throws Exception {
        List<VmProgress> steps = new ArrayList<>();
        Map<String, Long> arrivedMs = new java.util.TreeMap<>();
        long t0 = System.nanoTime();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec("db")
                .setPinnedHost("hv1")).build()).forEachRemaining(p -> {
                    steps.add(p);
                    if (p.getStep().equals(FanOut.STEP)) {
                        arrivedMs.put(p.getHost(), (System.nanoTime() - t0) / 1_000_000);
                    }
                });
        lap("created db with hv5 cut off: " + describe(steps));

        Map<String, String> replicated = replicatedSteps(steps);
        for (String host : List.of("hv2", "hv3", "hv4")) {
            assertTrue(replicated.get(host).matches("(defined db|in step) at [0-9a-f]{12}.*"), host + ": " + replicated.get(host));
        }
        // Its call timed out; or, on a slow machine, the controller had already judged it unreachable and never called.
        assertTrue(replicated.get("hv5").equals("unreachable (no answer within " + SYNC_DEADLINE.toSeconds()
                + " s): will catch up when it is back") || replicated.get("hv5").matches(
                "unreachable \\(no heartbeat .+\\): will catch up when it is back"), replicated.get("hv5"));
        for (String host : List.of("hv2", "hv3", "hv4")) {
            assertTrue(arrivedMs.get(host) < SYNC_DEADLINE.toMillis(), host + "'s result is shown as it comes, not held back"
                    + " until hv5's deadline: " + arrivedMs);
        }
        assertEquals("db is running on hv1; defined on 3 of 4 other hosts (the others catch up by themselves)",
                steps.get(steps.size() - 1).getDetail());
        for (String host : List.of("hv2", "hv3", "hv4")) {
            assertReplica(host, "db");
        }
        assertTrue(domainOn("hv5", "db").isEmpty(), "nothing reached hv5's libvirt across the cut");

        // The operator sees which host is behind, and why it cannot be judged.
        await("hv5 unreachable", () -> hostSync("hv5").getState() == HostState.HOST_STATE_UNREACHABLE);
        DriftReport report = operator.getDrift(GetDriftRequest.getDefaultInstance());
        HostSync hv5 = hostSync(report, "hv5");
        assertTrue(hv5.getBehind(), hv5.toString());
        assertNotEquals(report.getHeadCommit(), hv5.getSyncedCommit());
        assertTrue(report.getHostsList().stream().filter(h -> !h.getHost().equals("hv5")).noneMatch(HostSync::getBehind),
                report.toString());
        assertTrue(report.getDriftsList().stream().noneMatch(d -> d.getHost().equals("hv5")), "unreachable hosts are not judged");
        CliRun drift = cli("drift", "--exit-code");
        assertEquals(ExitCode.DRIFT, drift.code(), drift.out() + drift.err());
        assertTrue(drift.out().contains("4 of 5 hosts in step"), drift.out());
        assertTrue(drift.out().lines().anyMatch(l -> l.startsWith("hv5") && l.contains("unreachable")), drift.out());
    }

    @Test
    @Order(3)
    void aReplicaChangedByHandIsReportedAndRepairedUnlessItRuns() throws Exception {
        String home = vm("web").getHomeHost();
        String hand = HOSTS.stream().filter(h -> !h.equals(home)).findFirst().orElseThrow();
        String original = domainOn(hand, "web").orElseThrow().xml();
        redefineByHand(hand, "web", original.replace("</uuid>", "</uuid>\n  <description>edited by hand</description>"));

        Drift drift = awaitDrift(hand, "web");
        assertEquals(DriftKind.DRIFT_KIND_CHANGED_BY_HAND, drift.getKind(), drift.toString());
        assertFalse(drift.getRunning());
        assertTrue(drift.getRepairable(), drift.toString());
        CliRun shown = cli("drift");
        assertTrue(shown.out().lines().anyMatch(l -> l.startsWith(hand) && l.contains(" web ") && l.contains("changed-by-hand")),
                shown.out());

        Map<String, String> synced = replicatedSteps(sync());
        lap("sync after the hand edit on " + hand + ": " + synced);
        assertTrue(synced.get(hand).startsWith("repaired (changed by hand) web at "), synced.get(hand));
        assertEquals(original, domainOn(hand, "web").orElseThrow().xml(), "libvirt holds the repository's definition again");
        awaitInStep();

        // Running, a definition changed by hand is the operator's business: reported, never overwritten.
        String asDefined = domainOn(home, "web").orElseThrow().xml();
        redefineByHand(home, "web", asDefined.replace("</uuid>", "</uuid>\n  <description>tuned by hand</description>"));
        Drift running = awaitDrift(home, "web");
        assertEquals(DriftKind.DRIFT_KIND_CHANGED_BY_HAND, running.getKind());
        assertTrue(running.getRunning());
        assertFalse(running.getRepairable(), running.toString());
        sync();
        assertTrue(domainOn(home, "web").orElseThrow().xml().contains("tuned by hand"), "left as the operator made it");
        assertTrue(domainOn(home, "web").orElseThrow().active());

        redefineByHand(home, "web", asDefined); // the operator takes the edit back: nothing differs any more
        awaitInStep();
    }

    @Test
    @Order(4)
    void aControllerKilledMidFanOutComesBackToAFleetThatConverges() throws Exception {
        controller.close();
        startController(settings.withPort(controller.port()).withSystemProperties(Map.of("virtfleet.test.haltAt", "fanning-out")));
        awaitHostsReady();
        List<VmProgress> seen = new ArrayList<>();
        StatusRuntimeException cut = assertThrows(StatusRuntimeException.class, () -> operator
                .withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec("cache")
                        .setPinnedHost("hv2")).build()).forEachRemaining(seen::add));
        assertEquals(Status.Code.UNAVAILABLE, cut.getStatus().getCode(), cut.toString());
        assertEquals(137, controller.awaitExit(Duration.ofSeconds(10)), "halted at the crash point");
        assertFalse(seen.stream().anyMatch(p -> p.getStep().equals("done")), describe(seen));
        lap("controller halted in cache's fan-out; the operator saw " + describe(seen));

        startController(settings.withPort(controller.port()).withSystemProperties(Map.of()).withReconcileInterval(RECONCILE));
        await("cache ready on hv2", () -> vm("cache").getPhase() == VmPhase.VM_PHASE_READY);
        for (String host : HOSTS) {
            await("cache defined on " + host, () -> domainOn(host, "cache").isPresent());
        }
        assertRunsOnOneAndIsReplicatedOnTheOthers("cache", "hv2");
        awaitInStep();
        assertFalse(controller.logTail(10_000).contains(" SEVERE "), controller.logTail(60));

        // With the reconciler on, a replica changed by hand is put back with nobody acting.
        String original = domainOn("hv4", "cache").orElseThrow().xml();
        redefineByHand("hv4", "cache", original.replace("</uuid>", "</uuid>\n  <description>edited by hand</description>"));
        await("the reconciler repairs cache on hv4", () -> original.equals(domainOn("hv4", "cache").orElseThrow().xml()));
        awaitInStep();
    }

    @Test
    @Order(5)
    void aReplicaStartedElsewhereByHandIsKeptAndOnceStoppedRepairedByItself() throws Exception {
        // hv1's replica of cache can start there, as in a failover: the sync keeps the cephx key on every host.
        String original = domainOn("hv1", "cache").orElseThrow().xml();
        redefineByHand("hv1", "cache", original.replace("</uuid>", "</uuid>\n  <description>failed over by hand</description>"));
        startByHand("hv1", "cache");
        try {
            Map<String, String> synced = replicatedSteps(sync());
            assertTrue(synced.get("hv1").contains("cache: running and changed by hand"), synced.get("hv1"));
            Held kept = domainOn("hv1", "cache").orElseThrow();
            assertTrue(kept.active() && kept.xml().contains("failed over by hand"), "kept as the operator made it");
            Drift drift = awaitDrift("hv1", "cache");
            assertEquals(DriftKind.DRIFT_KIND_CHANGED_BY_HAND, drift.getKind());
            assertTrue(drift.getRunning());
            assertFalse(drift.getRepairable());
        } finally {
            destroyByHand("hv1", "cache");
        }
        await("the reconciler repairs cache on hv1 once it is shut off",
                () -> original.equals(domainOn("hv1", "cache").orElseThrow().xml()));
        assertReplica("hv1", "cache");
        awaitInStep();
    }

    @Test
    @Order(6)
    void aDeleteRemovesTheDefinitionFromEveryHost() throws Exception {
        for (String name : List.of("web", "db", "cache")) {
            delete(name);
            for (String host : HOSTS) {
                await(name + " gone from " + host, () -> domainOn(host, name).isEmpty());
            }
            VmHistory history = operator.getVmHistory(GetVmRequest.newBuilder().setName(name).build());
            assertFalse(history.getExists());
            assertTrue(history.getEvents(history.getEventsCount() - 1).getMessage().startsWith("deleted " + name),
                    history.toString());
        }
        assertEquals(List.of(), operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsList());
        awaitInStep();
    }

    // ---- the fleet -------------------------------------------------------------------------------------------

    private static void startController(ControllerJvm.Settings s) throws java.io.IOException {
        controller = ControllerJvm.start(s, work.resolve("controller-" + (controllers.size() + 1) + ".log"));
        controllers.add(controller);
    }

    private static void awaitHostsReady() throws InterruptedException {
        await("five hosts ready, each reporting its underlay address", () -> operator.withDeadlineAfter(5, TimeUnit.SECONDS)
                .listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .filter(h -> h.getState() == HostState.HOST_STATE_READY && h.getReport().getVxlanAddress().startsWith(UNDERLAY + "."))
                .count() == HOSTS.size());
    }

    /** A replicated VM on LAN 10 with its disk in Ceph; nothing boots in it (no OS image), a running domain is enough. */
    private static VmSpec.Builder spec(String name) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(128 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(true);
    }

    private static List<VmProgress> create(VmSpec.Builder spec) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    private static void delete(String name) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).deleteVm(DeleteVmRequest.newBuilder().setName(name).setDeleteDisk(true)
                .build()).forEachRemaining(steps::add);
        lap("deleted " + name + ": " + describe(steps));
    }

    /** {@code virtfleet sync}: each host's result as it streamed in. */
    private static List<VmProgress> sync() {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(1, TimeUnit.MINUTES).syncHosts(SyncHostsRequest.getDefaultInstance())
                .forEachRemaining(steps::add);
        return steps;
    }

    private static Vm vm(String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }


    /** The {@code virtfleet} CLI as an operator runs it, with the first admin's credentials. */
    private static CliRun cli(String... args) {
        return CliRun.as(controller.endpoint(), settings.dataDir().resolve("pki").resolve("admin.pem"), args);
    }

    // ---- drift -----------------------------------------------------------------------------------------------

    private static HostSync hostSync(String host) {
        return hostSync(operator.withDeadlineAfter(5, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance()), host);
    }

    private static HostSync hostSync(DriftReport report, String host) {
        return report.getHostsList().stream().filter(h -> h.getHost().equals(host)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + host + " in " + report));
    }

    /** Waits until the drift report names {@code vm} on {@code host} (its agent re-reads definitions every few seconds). */
    private static Drift awaitDrift(String host, String vm) throws InterruptedException {
        Drift[] found = new Drift[1];
        await("drift of " + vm + " on " + host + " reported", () -> {
            found[0] = operator.withDeadlineAfter(5, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance())
                    .getDriftsList().stream().filter(d -> d.getHost().equals(host) && d.getVm().equals(vm)).findFirst().orElse(null);
            return found[0] != null;
        });
        return found[0];
    }

    /** Every host ready and at the repository's head, and no domain anywhere differs from the repository. */
    private static void awaitInStep() throws InterruptedException {
        DriftReport[] last = new DriftReport[1];
        try {
            await("every host in step with the repository", () -> {
                last[0] = operator.withDeadlineAfter(5, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance());
                return last[0].getHostsCount() == HOSTS.size() && last[0].getDriftsCount() == 0
                        && last[0].getHostsList().stream().noneMatch(HostSync::getBehind)
                        && last[0].getHostsList().stream().allMatch(h -> h.getState() == HostState.HOST_STATE_READY);
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlast drift report: " + last[0], e);
        }
    }

    // ---- what libvirt says ---------------------------------------------------------------------------------

    /** A domain as a host's libvirtd holds it. */
    private record Held(boolean active, boolean autostart, String uuid, String xml) {}

    private static Optional<Held> domainOn(String host, String vm) {
        try {
            Connect conn = rack.host(host).libvirt();
            try {
                if (!List.of(conn.listDefinedDomains()).contains(vm) && !runningOn(conn).contains(vm)) {
                    return Optional.empty();
                }
                org.libvirt.Domain d = conn.domainLookupByName(vm);
                try {
                    return Optional.of(new Held(d.isActive() == 1, d.getAutostart(), d.getUUIDString(),
                            d.getXMLDesc(VIR_DOMAIN_XML_INACTIVE)));
                } finally {
                    d.free();
                }
            } finally {
                conn.close();
            }
        } catch (LibvirtException e) {
            throw new AssertionError("libvirtd of " + host + ": " + e.getMessage(), e);
        }
    }

    private static List<String> runningOn(Connect conn) throws LibvirtException {
        List<String> names = new ArrayList<>();
        for (int id : conn.listDomains()) {
            org.libvirt.Domain d = conn.domainLookupByID(id);
            try {
                names.add(d.getName());
            } finally {
                d.free();
            }
        }
        return names;
    }

    /** {@code virsh define} on the host: what an operator's hand edit does. */
    private static void redefineByHand(String host, String vm, String xml) throws LibvirtException {
        Connect conn = rack.host(host).libvirt();
        try {
            org.libvirt.Domain d = conn.domainDefineXML(xml);
            assertEquals(vm, d.getName());
            d.free();
        } finally {
            conn.close();
        }
    }

    /** Whether the host's libvirtd holds the ceph secret the RBD disks of the definitions name. */
    private static boolean hasCephSecret(String host) throws LibvirtException {
        Connect conn = rack.host(host).libvirt();
        try {
            for (String uuid : conn.listSecrets()) {
                org.libvirt.Secret secret = conn.secretLookupByUUIDString(uuid);
                try {
                    if ("client.libvirt secret".equals(secret.getUsageID())) {
                        return true;
                    }
                } finally {
                    secret.free();
                }
            }
            return false;
        } finally {
            conn.close();
        }
    }

    /** {@code virsh start} on the host. */
    private static void startByHand(String host, String vm) throws LibvirtException {
        Connect conn = rack.host(host).libvirt();
        try {
            org.libvirt.Domain d = conn.domainLookupByName(vm);
            d.create();
            d.free();
        } finally {
            conn.close();
        }
    }

    /** {@code virsh destroy} on the host. */
    private static void destroyByHand(String host, String vm) throws LibvirtException {
        Connect conn = rack.host(host).libvirt();
        try {
            org.libvirt.Domain d = conn.domainLookupByName(vm);
            if (d.isActive() == 1) {
                d.destroy();
            }
            d.free();
        } finally {
            conn.close();
        }
    }

    /**
     * Running on its home host only, libvirt's own autostart off there too (its agent starts it at boot); on each other
     * host defined with the home's UUID, autostart off, shut off.
     */
    private static void assertRunsOnOneAndIsReplicatedOnTheOthers(String vm, String home) {
        Held running = domainOn(home, vm).orElseThrow(() -> new AssertionError(vm + " not on its home " + home));
        assertTrue(running.active(), vm + " runs on " + home);
        assertFalse(running.autostart(), vm + ": libvirtd of " + home + " must not start it at boot, its agent does");
        for (String host : HOSTS) {
            if (!host.equals(home)) {
                Held replica = assertReplica(host, vm);
                assertEquals(running.uuid(), replica.uuid(), "the same domain as on " + home);
            }
        }
    }

    private static Held assertReplica(String host, String vm) {
        Held replica = domainOn(host, vm).orElseThrow(() -> new AssertionError(vm + " not defined on " + host));
        assertFalse(replica.active(), vm + " must not run on " + host);
        assertFalse(replica.autostart(), vm + " must not start with " + host);
        return replica;
    }

    // ---- progress and waiting ----------------------------------------------------------------------------------

    /** The fan-out's result per host ("replicated" steps), in host order; fails on a host reported twice. */
    private static Map<String, String> replicatedSteps(List<VmProgress> steps) {
        Map<String, String> out = new java.util.TreeMap<>();
        for (VmProgress p : steps) {
            if (p.getStep().equals(FanOut.STEP)) {
                assertTrue(out.put(p.getHost(), p.getDetail()) == null, p.getHost() + " reported twice: " + describe(steps));
            }
        }
        return out;
    }

    private static String describe(List<VmProgress> steps) {
        return steps.stream().map(p -> p.getStep() + "@" + p.getHost() + " (" + p.getDetail() + ")")
                .collect(Collectors.joining(", ", "[", "]"));
    }

    /** Polls; the controller may be restarting or the operator's channel reconnecting, which is "not yet". */
    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + CONVERGE.toNanos();
        while (true) {
            try {
                if (done.getAsBoolean()) {
                    return;
                }
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.UNAVAILABLE && e.getStatus().getCode() != Status.Code.DEADLINE_EXCEEDED) {
                    throw e;
                }
            }
            rack.assertAgentsRunning();
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + CONVERGE.toSeconds() + " s waiting for: " + what
                        + "\n--- controller ---\n" + controller.logTail(40) + "\n" + rack.agentLogs(15));
            }
            Thread.sleep(50);
        }
    }

    private static void lap(String what) {
        System.out.printf("[%6d ms] %s%n", (System.nanoTime() - t0) / 1_000_000, what);
    }
}
