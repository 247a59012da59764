package io.virtfleet.controller.failover;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
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
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.KillOnCall;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.controller.vm.CrashPoints;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.RecoverHostRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
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
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The controller dies (SIGKILL, or a halt as abrupt) at each point of a lost host's failover, and a new one is started
 * on the same data directory and port: the VM must end up recorded and running on one new home, with one failover
 * commit, no claim left behind and no note left, whether the dead controller had only claimed the new home (undone,
 * then recovered again while the host is still lost) or had committed the record (finished). The controller runs in a
 * JVM of its own ({@link ControllerJvm}), holding hv1 confirmed down from its start; two agents run in this one, on
 * libvirt test-driver nodes with their networks in namespaces (underlay 10.249.10.0/24), their disks on a real Ceph
 * cluster.
 */
class FailoverCrashTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration RECONCILE = Duration.ofSeconds(1);
    private static final Duration CONVERGE = Duration.ofSeconds(60);
    private static final List<String> HOSTS = List.of("hv1", "hv2");

    /** Where a failover is cut short. */
    enum KillPoint {
        /** The new home claimed and noted, the record unchanged: undone at restart, then recovered again. */
        CLAIMED("failover-claimed", null),
        /** The record committed, nothing run on the new home yet. */
        RECORDED("failover-recorded", null),
        /** The new home's agent received DefineDomain: defined after the controller died. */
        DEFINE(null, AgentGrpc.getDefineDomainMethod()),
        /** The new home's agent received SetDomainRunning: the VM starts after the controller died. */
        START(null, AgentGrpc.getSetDomainRunningMethod());

        final String haltAt;
        final MethodDescriptor<?, ?> agentMethod;

        KillPoint(String haltAt, MethodDescriptor<?, ?> agentMethod) {
            this.haltAt = haltAt;
            this.agentMethod = agentMethod;
        }
    }

    @TempDir
    static Path cephDir;
    private static CephCluster ceph;

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final KillOnCall killer = new KillOnCall();
    private final Map<String, Agent> agents = new TreeMap<>();
    private final List<ControllerJvm> controllers = new ArrayList<>();
    private ControllerJvm controller;
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

    @AfterEach
    void stop() {
        agents.values().forEach(Agent::close);
        if (admin != null) {
            admin.close();
        }
        for (ControllerJvm c : controllers) {
            c.close();
        }
        namespaces.close();
        for (int i = 0; i < controllers.size(); i++) {
            System.out.println("---- controller " + (i + 1) + " of " + controllers.size() + " ----");
            System.out.println(controllers.get(i).logTail(200));
        }
    }

    @ParameterizedTest
    @EnumSource(KillPoint.class)
    void killedDuringAFailoverThenRestartedTheVmRunsOnOneNewHomeOnce(KillPoint point) throws Exception {
        Map<String, String> properties = new TreeMap<>();
        ControllerJvm.Settings settings = new ControllerJvm.Settings(work.resolve("controller"), 0, HEARTBEAT,
                HEARTBEAT.multipliedBy(10), RECONCILE, properties).withCephMonitors(List.of(ceph.monitor()));
        startController(point.haltAt == null ? settings
                : settings.withSystemProperties(Map.of(CrashPoints.PROPERTY, point.haltAt)));
        startAgents();
        create("web"); // on hv1, the bigger and idler host
        int commits = history("web").size();
        agents.remove("hv1").close(); // the machine goes away
        await("hv1 unreachable", () -> hosts().stream().anyMatch(h -> h.getName().equals("hv1")
                && h.getState() == HostState.HOST_STATE_UNREACHABLE));
        if (point.agentMethod != null) {
            killer.arm(point.agentMethod, controller);
        }

        // The operator's verdict, which goes on with the recovery of hv1's VMs in the same call.
        List<io.virtfleet.proto.v1.HostProgress> seen = new ArrayList<>();
        StatusRuntimeException cut = assertThrows(StatusRuntimeException.class, () -> operator
                .withDeadlineAfter(2, TimeUnit.MINUTES).fenceHost(io.virtfleet.proto.v1.FenceHostRequest.newBuilder()
                        .setName("hv1").setConfirmDown(true).build())
                .forEachRemaining(seen::add));
        assertEquals(Status.Code.UNAVAILABLE, cut.getStatus().getCode(), "the operator's fence breaks off: " + cut);
        assertFalse(seen.stream().anyMatch(p -> p.getStep().equals("recovered")), "never told recovered: " + seen);
        assertEquals(137, controller.awaitExit(Duration.ofSeconds(10)), "killed, not stopped");
        if (point.agentMethod != null) {
            assertEquals(point.agentMethod.getFullMethodName(), killer.fired());
        }

        startController(settings.withPort(controller.port()));
        await("web recorded and running on hv2", () -> vm("web").getHomeHost().equals("hv2")
                && vm("web").getPhase() == VmPhase.VM_PHASE_READY
                && domains("hv2").stream().anyMatch(d -> d.getName().equals("web") && d.getState()
                        == io.virtfleet.proto.v1.DomainState.DOMAIN_STATE_RUNNING));
        await("the failover's note ended", () -> notes().isEmpty());
        List<VmEvent> history = history("web");
        assertEquals(commits + 1, history.size(), "one failover commit: " + history);
        assertTrue(history.get(history.size() - 1).getMessage().startsWith("failover web from lost host hv1 to hv2"),
                history.get(history.size() - 1).getMessage());
        assertEquals(Map.of("web", "hv2"), claims(work.resolve("controller").resolve("claims")),
                "the claim on hv2 only, no failover claim left");

        // The operator's retry finds nothing left to do, and changes nothing.
        List<VmProgress> again = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).recoverHost(RecoverHostRequest.newBuilder().setName("hv1").build())
                .forEachRemaining(again::add);
        assertEquals(0, again.get(again.size() - 1).getVmsLeft(), again.toString());
        assertEquals(commits + 1, history("web").size(), "no second commit");
        assertFalse(controller.logTail(10_000).contains(" SEVERE "), "the restarted controller logged no error:\n"
                + controller.logTail(60));
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

    private void startAgents() throws Exception {
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.249.10.1/24", ns2, "10.249.10.2/24", "ul0");
        Map<String, String> hostNamespace = Map.of("hv1", ns1, "hv2", ns2);
        for (String host : HOSTS) {
            TestDriverNode node = host.equals("hv1") ? new TestDriverNode(host, 32, 131072) : new TestDriverNode(host, 8, 16384);
            String uri = node.writeTo(work.resolve("nodes"));
            Path state = work.resolve("agents").resolve(host);
            Files.createDirectories(state.resolve("images"));
            String token = operator.withDeadlineAfter(30, TimeUnit.SECONDS).createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setHostName(host).setTtlSeconds(600).build()).getToken();
            AgentConfig config = new AgentConfig(host, controller.endpoint(), new InetSocketAddress("127.0.0.1", 0), null,
                    uri, HEARTBEAT, HEARTBEAT.multipliedBy(4), state.resolve("images"), state, List.of("ssd", "raw"), token,
                    null, ceph.agentSettings(), "ul0", null, 4789, "br0", state.resolve("definitions"), null,
                    io.virtfleet.agent.hypervisor.InstallerFiles.PACKAGE_DIRECTORY, null);
            NetworkSettings inNamespace = NetworkSettings.ofHost("ul0", null, 4789, "br0").inNamespace(hostNamespace.get(host));
            Agent agent = Agent.create(config, binder -> {
                binder.bind(NetworkSettings.class).toInstance(inNamespace);
                binder.bind(Agent.API_INTERCEPTORS).toInstance(List.of(killer));
            });
            agents.put(host, agent);
            agent.start();
        }
        await("both hosts registered and ready", () -> hosts().stream().filter(h -> h.getState() == HostState.HOST_STATE_READY
                && !h.getReport().getVxlanAddress().isEmpty()).count() == HOSTS.size());
    }

    private void create(String name) throws InterruptedException {
        VmSpec spec = VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(512 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("api")
                .setReplicated(true).build();
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        await(name + " ready on hv1", () -> vm(name).getPhase() == VmPhase.VM_PHASE_READY);
        assertEquals("hv1", vm(name).getHomeHost(), steps.toString());
    }

    // ---- looking -------------------------------------------------------------------------------------------

    private Vm vm(String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    private List<VmEvent> history(String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVmHistory(GetVmRequest.newBuilder().setName(name).build())
                .getEventsList();
    }

    private List<Host> hosts() {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
    }

    private List<DomainInfo> domains(String host) {
        return hosts().stream().filter(h -> h.getName().equals(host)).flatMap(h -> h.getReport().getDomainsList().stream())
                .toList();
    }

    private List<Path> notes() {
        Path dir = work.resolve("controller").resolve("failovers");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The claims in force as the journal says, VM to host: {@code + vm host ...} claims, {@code - vm} releases. */
    private static Map<String, String> claims(Path journal) throws IOException {
        Map<String, String> live = new TreeMap<>();
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

    /** Waits; the controller may still be starting or the operator's channel reconnecting, which is not yet. */
    private void await(String what, BooleanSupplier done) throws InterruptedException {
        try {
            Await.until(what, CONVERGE, () -> {
                try {
                    return done.getAsBoolean();
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
                        throw e;
                    }
                    return false;
                }
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + controller.logTail(40), e);
        }
    }
}
