package io.virtfleet.controller.vm;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.process.Command;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.KillOnCall;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.revwalk.RevCommit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The controller dies (SIGKILL, or a halt that is as abrupt) at each point of a {@code vm create}, and a new one
 * is started on the same data directory and port: every create must end as if it had run once, or (killed before
 * its record was committed) as if it had never been asked for. Checked after each recovery, from the outside: the
 * VMs the operator sees, the hosts' libvirt domains, each host's images directory, the definitions repository's
 * files and commits, and the claims journal; and a second create of the same name.
 *
 * <p>The controller runs in a JVM of its own ({@link ControllerJvm}); two agents run in this one, each on a libvirt
 * test-driver node, with its network in a namespace of its own and raw disks made by the real qemu-img, enrolled
 * with join tokens an admin asked the controller for.
 */
class ControllerCrashDuringCreateTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration RECONCILE = Duration.ofSeconds(1);
    private static final Duration CONVERGE = Duration.ofSeconds(40);
    private static final long DISK = 10 * GIB;
    private static final List<String> HOSTS = List.of("hv1", "hv2");

    /** Where a create is cut short. */
    enum KillPoint {
        /** Claim journalled, record not committed: the create never happened. */
        CLAIMED("claimed", null, false),
        /**
         * In the middle of the commit: as {@link #CLAIMED}, and the repository holds what a commit cut short leaves
         * (the record and domain XML written, not committed; the index and the branch locked by the dead process).
         */
        COMMITTING("claimed", null, false),
        /** Record and domain XML committed, no step run on the host yet. */
        RECORDED("recorded", null, true),
        /** The agent received EnsureDisk: the disk is made after the controller died. */
        DISK(null, AgentGrpc.getEnsureDiskMethod(), true),
        /** The agent received DefineDomain: the domain is defined after the controller died. */
        DEFINE(null, AgentGrpc.getDefineDomainMethod(), true),
        /** The agent received SetDomainRunning: the domain starts after the controller died. */
        START(null, AgentGrpc.getSetDomainRunningMethod(), true),
        /** Everything done on the host, the operator not yet told "done". */
        STARTED("started", null, true);

        final String haltAt;
        final MethodDescriptor<?, ?> agentMethod;
        final boolean recorded;

        KillPoint(String haltAt, MethodDescriptor<?, ?> agentMethod, boolean recorded) {
            this.haltAt = haltAt;
            this.agentMethod = agentMethod;
            this.recorded = recorded;
        }
    }

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final KillOnCall killer = new KillOnCall();
    private final Map<String, Agent> agents = new TreeMap<>();
    private final Map<String, Path> images = new TreeMap<>();
    private final List<ControllerJvm> controllers = new ArrayList<>();
    private ControllerJvm controller;
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;
    /** What the agents (in this JVM) log as errors: a step finished for a dead controller is not one. */
    private final List<String> agentErrors = new CopyOnWriteArrayList<>();
    private final Handler errorWatch = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.SEVERE.intValue()) {
                agentErrors.add(r.getLoggerName() + ": " + r.getMessage() + (r.getThrown() == null ? "" : " " + r.getThrown()));
            }
        }

        @Override
        public void flush() { }

        @Override
        public void close() { }
    };

    @BeforeEach
    void watchAgentErrors() {
        Logger.getLogger("").addHandler(errorWatch);
    }

    @AfterEach
    void stop() throws IOException {
        Logger.getLogger("").removeHandler(errorWatch);
        agents.values().forEach(Agent::close);
        if (admin != null) {
            admin.close();
        }
        for (ControllerJvm c : controllers) {
            c.close();
        }
        namespaces.close();
        // The controllers' logs, in the test's output file, to read what each one did.
        for (int i = 0; i < controllers.size(); i++) {
            System.out.println("---- controller " + (i + 1) + " of " + controllers.size() + " ----");
            System.out.println(controllers.get(i).logTail(200));
        }
    }

    @ParameterizedTest
    @EnumSource(KillPoint.class)
    void killedDuringCreateThenRestartedConvergesToOneVmOrNone(KillPoint point) throws Exception {
        ControllerJvm.Settings settings = new ControllerJvm.Settings(work.resolve("controller"), 0, HEARTBEAT,
                HEARTBEAT.multipliedBy(10), RECONCILE,
                point.haltAt == null ? Map.of() : Map.of(CrashPoints.PROPERTY, point.haltAt));
        startController(settings);
        startAgents();
        if (point.agentMethod != null) {
            killer.arm(point.agentMethod, controller);
        }

        List<VmProgress> seen = new ArrayList<>();
        StatusRuntimeException cut = assertThrows(StatusRuntimeException.class, () -> create(spec("web"), seen));
        assertEquals(Status.Code.UNAVAILABLE, cut.getStatus().getCode(), "the operator's create breaks off: " + cut);
        assertFalse(seen.stream().anyMatch(p -> p.getStep().equals("done")), "never told done: " + seen);
        assertEquals(137, controller.awaitExit(Duration.ofSeconds(10)), "killed, not stopped");
        if (point.agentMethod != null) {
            assertEquals(point.agentMethod.getFullMethodName(), killer.fired());
        }

        if (point == KillPoint.COMMITTING) {
            leaveAnUnfinishedCommit(settings.dataDir().resolve("definitions"), "web");
        }
        startController(settings.withPort(controller.port()).withSystemProperties(Map.of()));
        if (point.recorded) {
            awaitConverged("web", "hv1");
            assertFleetHolds(Map.of("web", "hv1"));
            StatusRuntimeException again = assertThrows(StatusRuntimeException.class, () -> create(spec("web"), new ArrayList<>()));
            assertEquals(Status.Code.ALREADY_EXISTS, again.getStatus().getCode(), again.toString());
        } else {
            awaitHostsReady();
            // A few whole reconciler passes after the hosts are back: none may bring anything back.
            controller.awaitPasses(controller.passesCompleted() + 3, Duration.ofMinutes(2));
            assertFleetHolds(Map.of());
            List<VmProgress> steps = new ArrayList<>();
            create(spec("web"), steps);
            assertEquals("done", steps.get(steps.size() - 1).getStep(), "created afresh: " + steps);
            awaitConverged("web", "hv1"); // until the host's report shows the domain
            assertFleetHolds(Map.of("web", "hv1"));
        }
        assertFalse(controller.logTail(10_000).contains(" SEVERE "), "the restarted controller logged no error:\n"
                + controller.logTail(60));
        assertEquals(List.of(), agentErrors, "the agents logged no error");
    }

    /**
     * Killed after OVH moved the failover IP and made its virtual MAC, before the VM was recorded: the restarted
     * controller releases the claim, and the create asked again finds the MAC at OVH and uses it instead of making a
     * second one (a create looks the MAC up before it makes one for this very case).
     */
    @org.junit.jupiter.api.Test
    void killedAfterOvhMadeTheVirtualMacThenCreatedAgainUsesIt() throws Exception {
        String ip = "198.51.100.77";
        String s1 = "ns3001234.ip-203-0-113.eu";
        try (io.virtfleet.controller.ovh.FakeOvhApi ovh = new io.virtfleet.controller.ovh.FakeOvhApi().server(s1)
                .server("ns3005678.ip-203-0-113.eu").ip(ip, "ns3005678.ip-203-0-113.eu")) {
            String api = ovh.endpoint() + " hv1=" + s1 + ",hv2=ns3005678.ip-203-0-113.eu";
            ControllerJvm.Settings settings = new ControllerJvm.Settings(work.resolve("controller"), 0, HEARTBEAT,
                    HEARTBEAT.multipliedBy(10), RECONCILE, Map.of(CrashPoints.PROPERTY, "at-ovh", ControllerJvm.OVH, api));
            startController(settings);
            startAgents(true);
            VmSpec www = spec("www").toBuilder().setNetwork(NetworkSpec.newBuilder().setFailover(
                    io.virtfleet.proto.v1.FailoverIp.newBuilder().setAddress(ip))).build();

            List<VmProgress> seen = new ArrayList<>();
            StatusRuntimeException cut = assertThrows(StatusRuntimeException.class, () -> create(www, seen));
            assertEquals(Status.Code.UNAVAILABLE, cut.getStatus().getCode(), cut.toString());
            assertEquals(137, controller.awaitExit(Duration.ofSeconds(10)), "killed, not stopped");
            assertEquals(s1, ovh.routeOf(ip));
            assertEquals(1, ovh.virtualMacs(s1).size(), "OVH made the MAC before the controller died");
            String mac = ovh.virtualMacs(s1).keySet().iterator().next();

            startController(settings.withPort(controller.port()).withSystemProperties(Map.of(ControllerJvm.OVH, api)));
            awaitHostsReady();
            assertFleetHolds(Map.of());
            // The restart tells what OVH made for the VM that was never recorded, before anyone creates it again.
            String told = Files.readString(work.resolve("controller-2.log"));
            assertTrue(told.contains("a create of www was interrupted before the VM was recorded; at OVH it had moved"
                    + " failover IP " + ip + " from ns3005678.ip-203-0-113.eu (hv2) to " + s1 + " (hv1), then OVH made"
                    + " virtual MAC " + mac + " for " + ip + " on " + s1 + " (hv1). Check the OVH panel"), told);
            assertEquals(List.of(), Files.list(work.resolve("controller/ovh-intents")).toList(), "told once");
            List<VmProgress> steps = new ArrayList<>();
            create(www, steps);
            assertEquals("done", steps.get(steps.size() - 1).getStep(), "created: " + steps);
            assertTrue(steps.stream().anyMatch(p -> p.getDetail().startsWith("using virtual MAC " + mac)), steps.toString());
            assertEquals(2, ovh.calls("POST").size(), "one move and one MAC, both by the first create: " + ovh.calls("POST"));
            awaitConverged("www", "hv1");
            assertFleetHolds(Map.of("www", "hv1"));
            assertEquals(mac, vms().get(0).getSpec().getNetwork().getFailover().getMac());
        }
    }

    /** Files and locks as a controller killed inside JGit's commit of a new VM leaves them. */
    private static void leaveAnUnfinishedCommit(Path repo, String vm) throws IOException {
        Files.createDirectories(repo.resolve("vms"));
        Files.createDirectories(repo.resolve("etc/libvirt/qemu"));
        Files.writeString(repo.resolve("vms/" + vm + ".json"), "{\"spec\": {\"name\": \"" + vm + "\"}}\n");
        Files.writeString(repo.resolve("etc/libvirt/qemu/" + vm + ".xml"), "<domain type='qemu'><name>" + vm + "</name></domain>\n");
        Files.writeString(repo.resolve(".git/index.lock"), "");
        Files.writeString(repo.resolve(".git/refs/heads/main.lock"), "");
    }

    // ---- the fleet -----------------------------------------------------------------------------------------

    private void startController(ControllerJvm.Settings settings) throws IOException {
        controller = ControllerJvm.start(settings, work.resolve("controller-" + (controllers.size() + 1) + ".log"));
        controllers.add(controller);
        if (admin == null) {
            admin = Clients.as(settings.dataDir().resolve("pki").resolve("admin.pem"));
            operator = FleetGrpc.newBlockingStub(admin.controller(controller.endpoint()));
        }
    }

    /** Two hosts; every VM here is pinned to hv1, so each check knows where its disk and domain belong. */
    private void startAgents() throws Exception {
        startAgents(false);
    }

    /** @param failover the hosts can take failover-IP VMs: a public bridge br0 and a public address each */
    private void startAgents(boolean failover) throws Exception {
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.248.0.1/24", ns2, "10.248.0.2/24", "ul0");
        Map<String, String> hostNamespace = Map.of("hv1", ns1, "hv2", ns2);
        if (failover) {
            for (String ns : hostNamespace.values()) {
                namespaces.ip(ns, "link", "add", "br0", "type", "bridge");
                namespaces.ip(ns, "link", "set", "br0", "up");
            }
        }
        for (String host : HOSTS) {
            TestDriverNode node = host.equals("hv1") ? new TestDriverNode(host, 32, 131072) : new TestDriverNode(host, 8, 16384);
            String uri = node.writeTo(work.resolve("nodes"));
            Path state = work.resolve("agents").resolve(host);
            Files.createDirectories(state.resolve("images"));
            images.put(host, state.resolve("images"));
            String token = operator.withDeadlineAfter(30, TimeUnit.SECONDS).createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setHostName(host).setTtlSeconds(600).build()).getToken();
            Path noCeph = work.toAbsolutePath().resolve("no-ceph");
            CephSettings ceph = CephSettings.defaults();
            AgentConfig config = new AgentConfig(host, controller.endpoint(), new InetSocketAddress("127.0.0.1", 0), null,
                    uri, HEARTBEAT, HEARTBEAT.multipliedBy(4), state.resolve("images"), state, List.of("raw"), token, null,
                    new CephSettings(noCeph.resolve("ceph.conf"), ceph.client(), noCeph.resolve("keyring"), ceph.ssdPool(),
                            ceph.sataPool(), ceph.timeout()),
                    "ul0", null, 4789, "br0", state.resolve("definitions"), null,
                    io.virtfleet.agent.hypervisor.InstallerFiles.PACKAGE_DIRECTORY, !failover ? null
                            : io.virtfleet.common.validation.Ipv4.publicAddress("public-address", "203.0.113." + (host.equals("hv1") ? 10 : 20)));
            NetworkSettings inNamespace = NetworkSettings.ofHost("ul0", null, 4789, "br0").inNamespace(hostNamespace.get(host));
            Agent agent = Agent.create(config, binder -> {
                binder.bind(NetworkSettings.class).toInstance(inNamespace);
                binder.bind(Agent.API_INTERCEPTORS).toInstance(List.of(killer));
            });
            agents.put(host, agent);
            agent.start();
        }
        awaitHostsReady();
    }

    private static VmSpec spec(String name) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(DISK)
                .setMemoryBytes(2 * GIB).setVcpus(2).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("api")
                .setPinnedHost("hv1").build();
    }

    /** {@code virtfleet vm create}: the steps as they stream in, until the end or the error. */
    private void create(VmSpec spec, List<VmProgress> steps) {
        operator.withDeadlineAfter(60, TimeUnit.SECONDS).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
    }

    // ---- waiting -------------------------------------------------------------------------------------------

    /** Both agents registered with the running controller, ready and reporting their underlay. */
    private void awaitHostsReady() throws InterruptedException {
        await("both hosts registered and ready", () -> hosts().stream().filter(h -> h.getState() == HostState.HOST_STATE_READY
                && !h.getReport().getVxlanAddress().isEmpty()).count() == HOSTS.size());
    }

    private void awaitConverged(String vm, String host) throws InterruptedException {
        await(vm + " ready and running on " + host, () -> vms().stream().anyMatch(v -> v.getSpec().getName().equals(vm)
                && v.getHomeHost().equals(host) && v.getPhase() == VmPhase.VM_PHASE_READY)
                && domains(host).stream().anyMatch(d -> d.getName().equals(vm) && d.getState() == DomainState.DOMAIN_STATE_RUNNING));
    }

    /** Polls; the controller may still be starting or the operator's channel reconnecting, which is not yet. */
    private void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + CONVERGE.toNanos();
        while (true) {
            try {
                if (done.getAsBoolean()) {
                    return;
                }
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
                    throw e;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + CONVERGE + " waiting for: " + what + "\n"
                        + controller.logTail(40));
            }
            Thread.sleep(100);
        }
    }

    private List<Host> hosts() {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
    }

    private List<Vm> vms() {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).listVms(ListVmsRequest.getDefaultInstance()).getVmsList();
    }

    private List<DomainInfo> domains(String host) {
        return hosts().stream().filter(h -> h.getName().equals(host)).flatMap(h -> h.getReport().getDomainsList().stream())
                .toList();
    }

    // ---- what must hold after a recovery ---------------------------------------------------------------------

    /**
     * The fleet holds exactly {@code expected} (VM to home host), each VM once, everywhere it can be seen: as the
     * operator lists it (ready), on the hosts (one running domain on its home host, none elsewhere; its one disk
     * in its home host's images directory, nothing else in any), in the definitions repository (one record, one
     * domain XML and one create commit each, nothing uncommitted) and in the claims journal.
     */
    private void assertFleetHolds(Map<String, String> expected) throws IOException {
        Map<String, String> listed = vms().stream().collect(Collectors.toMap(v -> v.getSpec().getName(), Vm::getHomeHost));
        assertEquals(expected, listed, "VMs as the operator lists them");
        for (Vm vm : vms()) {
            assertEquals(VmPhase.VM_PHASE_READY, vm.getPhase(), vm.getSpec().getName() + ": " + vm.getLastError());
        }

        for (String host : HOSTS) {
            Set<String> here = expected.entrySet().stream().filter(e -> e.getValue().equals(host)).map(Map.Entry::getKey)
                    .collect(Collectors.toCollection(TreeSet::new));
            List<DomainInfo> domains = domains(host);
            assertEquals(here, domains.stream().map(DomainInfo::getName).collect(Collectors.toCollection(TreeSet::new)),
                    "domains on " + host);
            for (DomainInfo d : domains) {
                assertEquals(DomainState.DOMAIN_STATE_RUNNING, d.getState(), d.getName() + " on " + host);
            }
            assertEquals(here.stream().map(vm -> vm + ".img").collect(Collectors.toCollection(TreeSet::new)),
                    filesIn(images.get(host)), "images directory of " + host + " (no orphan, no duplicate, no leftover)");
            for (String vm : here) {
                String info = Command.of("qemu-img", "info", "--output=json", images.get(host).resolve(vm + ".img").toString())
                        .runChecked().stdout();
                assertTrue(info.contains("\"virtual-size\": " + DISK) && info.contains("\"format\": \"raw\""), info);
            }
        }

        Path definitions = work.resolve("controller").resolve("definitions");
        assertEquals(names(expected, ".json"), filesIn(definitions.resolve("vms")), "VM records in the definitions repository");
        assertEquals(names(expected, ".xml"), filesIn(definitions.resolve("etc/libvirt/qemu")),
                "domain definitions in the definitions repository");
        try (Git git = Git.open(definitions.toFile())) {
            assertTrue(git.status().call().isClean(), "nothing uncommitted in the definitions repository");
            List<String> messages = StreamSupport.stream(git.log().call().spliterator(), false)
                    .map(RevCommit::getShortMessage).toList();
            List<String> creates = messages.stream().filter(m -> m.startsWith("create ")).sorted().toList();
            assertEquals(expected.entrySet().stream().map(e -> "create " + e.getKey() + " on " + e.getValue()).sorted().toList(),
                    creates, "one create commit per VM: " + messages);
            assertEquals(1 + expected.size(), messages.size(), "no other change was committed: " + messages);
        } catch (org.eclipse.jgit.api.errors.GitAPIException e) {
            throw new IOException(e);
        }
        for (Map.Entry<String, String> e : expected.entrySet()) {
            String xml = Files.readString(definitions.resolve("etc/libvirt/qemu/" + e.getKey() + ".xml"));
            assertTrue(xml.contains("<name>" + e.getKey() + "</name>"), xml);
            assertTrue(xml.contains(images.get(e.getValue()).toString() + "/" + e.getKey() + ".img"),
                    "the definition points at the disk on its home host: " + xml);
        }

        assertEquals(expected, claims(work.resolve("controller").resolve("claims")), "claims journal");
    }

    private static Set<String> names(Map<String, String> vms, String suffix) {
        return vms.keySet().stream().map(vm -> vm + suffix).collect(Collectors.toCollection(TreeSet::new));
    }

    /** Every entry of a directory, hidden ones too (a half-made disk is {@code .<vm>.img.partial}). */
    private static Set<String> filesIn(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return Set.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            // The agent's prepared installer initrd lives there too (for QEMU to read); it is no VM's.
            return files.map(p -> p.getFileName().toString()).filter(n -> !n.equals(".virtfleet-installer"))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
    }

    /**
     * The claims in force as the journal says, VM to host: its lines replayed ({@code + vm host ...} claims,
     * {@code - vm} releases); a VM claimed twice without a release in between is a failure.
     */
    private static Map<String, String> claims(Path journal) throws IOException {
        Map<String, String> live = new TreeMap<>();
        if (!Files.exists(journal)) {
            return live;
        }
        for (String line : Files.readAllLines(journal, StandardCharsets.US_ASCII)) {
            String[] f = line.strip().split(" ");
            if (f[0].equals("+")) {
                assertFalse(live.containsKey(f[1]), "claimed twice in " + journal + ": " + f[1]);
                live.put(f[1], f[2]);
            } else if (f[0].equals("-")) {
                live.remove(f[1]);
            }
        }
        return live;
    }
}
