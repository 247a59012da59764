package io.virtfleet.controller.failover;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.Agent;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.ovh.FakeOvhApi;
import io.virtfleet.controller.ovh.OvhSettings;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.NamespacedAgent;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.RecoverHostRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A lost host's failover-IP VM: with OVH's API its IP is routed to the new home's server, as a create routes it;
 * without it, the static failover-routes decide, and a VM whose IP they route to the lost host only waits for the
 * operator, who is told exactly what to do. Two agents on libvirt test-driver nodes, each host's network in a
 * namespace of its own with a public bridge br0 and a public address (underlay 10.249.9.0/24), a real Ceph cluster,
 * a fake of OVH's API.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class FailoverIpTest {
    private static final String IP = "198.51.100.78";
    private static final String MAC = "02:00:00:aa:bb:78";
    private static final String S1 = "ns3001234.ip-203-0-113.eu";
    private static final String S2 = "ns3005678.ip-203-0-113.eu";
    private static final Map<String, String> PUBLIC = Map.of("hv1", "203.0.113.10", "hv2", "203.0.113.20");

    @TempDir
    static Path cephDir;
    private static CephCluster ceph;

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final Map<String, Agent> agents = new TreeMap<>();
    private EmbeddedFleet fleet;
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
    void stop() throws Exception {
        for (Agent a : agents.values()) {
            a.close();
        }
        for (AutoCloseable c : closers) {
            c.close();
        }
        namespaces.close();
    }

    @Test
    void withOvhsApiTheIpIsRoutedToTheNewHomesServerAndTheVmStartsThere() throws Exception {
        FakeOvhApi ovh = new FakeOvhApi().server(S1, PUBLIC.get("hv1")).server(S2, PUBLIC.get("hv2")).ip(IP, S1)
                .virtualMac(S1, MAC, IP);
        closers.add(ovh);
        OvhSettings api = OvhSettings.of(ovh.account(), Map.of("hv1", S1, "hv2", S2))
                .withTimings(Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofMillis(10));
        twoHosts(p -> p.withOvh(api));
        create(edge());
        lose("hv1");
        fence("hv1");

        List<VmProgress> steps = recover("hv1");
        assertEquals("hv2", vm("edge").getHomeHost(), steps.toString());
        assertEquals(S2, ovh.routeOf(IP), "the IP follows the VM");
        assertTrue(steps.stream().anyMatch(p -> p.getVmName().equals("edge") && p.getStep().equals("recovered")
                && p.getDetail().equals("edge: fenced hv1, placed on hv2, started")), steps.toString());
        assertEquals(MAC, vm("edge").getSpec().getNetwork().getFailover().getMac(), "its virtual MAC moved with the IP");
        Await.until("edge runs on hv2", Duration.ofSeconds(30), () -> active("hv2", "edge"));
        assertEquals(0, steps.get(steps.size() - 1).getVmsLeft());
    }

    @Test
    void withoutOvhsApiAVmWhoseIpIsRoutedToTheLostHostWaitsForTheOperatorWithTheExactAction() throws Exception {
        twoHosts(p -> new io.virtfleet.controller.vm.Provisioning(p.placement(), Map.of(IP, "hv1"), p.domain(),
                p.reconcileInterval(), p.syncDeadline(), p.install(), p.boot(), p.ovh()));
        create(edge());
        lose("hv1");
        fence("hv1");

        List<VmProgress> steps = recover("hv1");
        VmProgress waiting = steps.stream().filter(p -> p.getVmName().equals("edge") && p.getStep().equals("waiting"))
                .findFirst().orElseThrow(() -> new AssertionError(steps.toString()));
        assertEquals("waiting for the operator: failover IP " + IP + " is routed to no host that can take edge"
                + " (failover-routes, no OVH API); move " + IP + " with its virtual MAC " + MAC + " to hv2's server in"
                + " the OVH panel, set failover-routes " + IP + "=hv2 in the controller's configuration and restart it,"
                + " then run virtfleet host recover hv1", waiting.getDetail());
        assertEquals("hv1", vm("edge").getHomeHost(), "nothing changed");
        assertEquals(1, steps.get(steps.size() - 1).getVmsLeft());
        assertEquals(null, fleet.controller().scheduler().claimOf("edge/failover"), "no claim left");
    }

    private void twoHosts(UnaryOperator<io.virtfleet.controller.vm.Provisioning> provisioning) throws Exception {
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.249.9.1/24", ns2, "10.249.9.2/24", "ul0");
        for (String ns : List.of(ns1, ns2)) {
            namespaces.ip(ns, "link", "add", "br0", "type", "bridge");
            namespaces.ip(ns, "link", "set", "br0", "up");
        }
        fleet = EmbeddedFleet.builder(work).nodes(List.of()).heartbeat(Duration.ofMillis(200))
                .grace(Duration.ofSeconds(1)).reconcileInterval(Duration.ofMillis(500)).ceph(ceph)
                .provisioning(provisioning).build().start();
        closers.add(0, fleet);
        for (String host : List.of("hv1", "hv2")) {
            // hv1 is the bigger, idler host: placement puts new VMs there.
            TestDriverNode node = host.equals("hv1") ? new TestDriverNode(host, 32, 131072) : new TestDriverNode(host, 8, 16384);
            agents.put(host, NamespacedAgent.start(fleet, host, work.resolve("agents").resolve(host),
                    node.writeTo(work.resolve("nodes")), host.equals("hv1") ? ns1 : ns2, "ul0", ceph.agentSettings(),
                    Ipv4.publicAddress("public-address", PUBLIC.get(host))));
        }
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        Await.until("both hosts ready with their public addresses", Duration.ofSeconds(20),
                () -> operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                        .filter(h -> !h.getReport().getPublicAddress().isEmpty()
                                && h.getState() == HostState.HOST_STATE_READY).count() == 2);
    }

    private static VmSpec edge() {
        return VmSpec.newBuilder().setName("edge").setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(256 * MIB).setVcpus(1).setProfile("base").setReplicated(true)
                .setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder().setAddress(IP).setMac(MAC)))
                .build();
    }

    private void create(VmSpec spec) throws InterruptedException {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        Await.until(spec.getName() + " ready", Duration.ofSeconds(60),
                () -> vm(spec.getName()).getPhase() == VmPhase.VM_PHASE_READY);
        assertEquals("hv1", vm(spec.getName()).getHomeHost(), steps.toString());
    }

    private void lose(String host) throws InterruptedException {
        agents.remove(host).close();
        Await.until(host + " unreachable", Duration.ofSeconds(30), () -> operator.withDeadlineAfter(10, TimeUnit.SECONDS)
                .getHost(GetHostRequest.newBuilder().setName(host).build()).getState() == HostState.HOST_STATE_UNREACHABLE);
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

    private boolean active(String host, String vm) {
        return fleet.controller().registry().get(host).orElseThrow().report().getDomainsList().stream()
                .anyMatch(d -> d.getName().equals(vm) && Domains.active(d.getState()));
    }
}
