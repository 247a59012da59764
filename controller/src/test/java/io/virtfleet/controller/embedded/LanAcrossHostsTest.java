package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StepResult;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A LAN as the controller will build one: two enrolled agents, each looking after a simulated hypervisor's
 * network (a namespace of its own, the two joined by an underlay cable), report their underlay addresses;
 * the controller, over mutual-TLS gRPC, tells each to carry LAN 10 with the others as peers, and a VM on each
 * host then reaches the VM on the other.
 */
class LanAcrossHostsTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Map<String, String> UNDERLAY = Map.of("hv1", "10.247.0.1", "hv2", "10.247.0.2");

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final Map<String, String> hostNamespace = new LinkedHashMap<>();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private Map<String, AgentGrpc.AgentBlockingStub> agents;
    private List<Host> hosts;

    @BeforeEach
    void twoHypervisorsEnrolledInAFleet() throws Exception {
        for (String host : UNDERLAY.keySet().stream().sorted().toList()) {
            hostNamespace.put(host, namespaces.create(host));
        }
        namespaces.cable(hostNamespace.get("hv1"), "10.247.0.1/24", hostNamespace.get("hv2"), "10.247.0.2/24", "ul0");

        EmbeddedFleet fleet = EmbeddedFleet.builder(work).nodes(List.of()).heartbeat(HEARTBEAT).build().start();
        closers.add(fleet);
        for (Map.Entry<String, String> host : hostNamespace.entrySet()) {
            AgentConfig base = fleet.agentConfig(host.getKey(), work.resolve("agents").resolve(host.getKey()));
            AgentConfig config = new AgentConfig(base.hostName(), base.controller(), base.listen(), null, base.libvirtUri(),
                    base.heartbeatInterval(), base.maxBackoff(), base.imagesDirectory(), base.stateDirectory(),
                    base.storageTiers(), fleet.joinToken(host.getKey()), null, base.ceph(), "ul0", null, 4789, "br0",
                    base.definitionsDirectory(), base.definitionsRemote(), base.installerDirectory(), null);
            NetworkSettings inNamespace = NetworkSettings.ofHost("ul0", null, 4789, "br0").inNamespace(host.getValue());
            Agent agent = Agent.create(config, binder -> binder.bind(NetworkSettings.class).toInstance(inNamespace));
            closers.add(0, agent);
            agent.start();
        }
        Clients admin = Clients.as(fleet.adminCredentials());
        Clients controller = Clients.as(fleet.controller().pki().credentials());
        closers.add(0, admin);
        closers.add(0, controller);
        FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        do {
            Thread.sleep(50);
            hosts = operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
        } while (hosts.size() < 2 && System.nanoTime() < deadline);
        agents = new LinkedHashMap<>();
        for (Host h : hosts) {
            agents.put(h.getName(), AgentGrpc.newBlockingStub(controller.agent(Endpoint.parse("endpoint", h.getAgentEndpoint()),
                    h.getName())).withDeadlineAfter(20, TimeUnit.SECONDS));
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closers) {
            c.close();
        }
        namespaces.close();
    }

    private static EnsureNetworkRequest lan(int lan, List<String> peers) {
        return EnsureNetworkRequest.newBuilder().setNetwork(NetworkSpec.newBuilder().setLan(lan)).addAllPeerAddresses(peers)
                .build();
    }

    @Test
    void twoVmsOnLan10OnTwoHostsReachEachOther() {
        // Each host reports the address its LANs use: the first IPv4 address of its vxlan-device.
        Map<String, String> reported = new LinkedHashMap<>();
        hosts.forEach(h -> reported.put(h.getName(), h.getReport().getVxlanAddress()));
        assertEquals(UNDERLAY, reported);
        List<String> everyHost = List.copyOf(reported.values()); // each host skips its own address

        for (String host : agents.keySet()) {
            StepResult created = agents.get(host).ensureNetwork(lan(10, everyHost));
            assertEquals(StepResult.Outcome.OUTCOME_CHANGED, created.getOutcome(), created.getDetail());
            System.out.printf("%s: EnsureNetwork(lan 10) %s in %d ms on the agent: %s%n", host, created.getOutcome(),
                    created.getDurationMs(), created.getDetail());
            StepResult again = agents.get(host).ensureNetwork(lan(10, everyHost));
            assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, again.getOutcome(), again.getDetail());
            System.out.printf("%s: again: %s in %d ms%n", host, again.getOutcome(), again.getDurationMs());
        }
        assertTrue(agents.get("hv1").ensureNetwork(lan(10, everyHost)).getDetail().endsWith("; peers 10.247.0.2"));

        String vm1 = namespaces.vm(hostNamespace.get("hv1"), "vxbr10", "172.31.10.1/24");
        String vm2 = namespaces.vm(hostNamespace.get("hv2"), "vxbr10", "172.31.10.2/24");
        assertTrue(namespaces.ping(vm1, "172.31.10.2"), "hv1's VM reaches hv2's VM over LAN 10");
        assertTrue(namespaces.ping(vm2, "172.31.10.1"), "hv2's VM reaches hv1's VM over LAN 10");
    }

    @Test
    void refusalsArriveAsStatusesNamingWhatIsWrong() {
        AgentGrpc.AgentBlockingStub hv1 = agents.get("hv1");

        StatusRuntimeException hostile = assertThrows(StatusRuntimeException.class,
                () -> hv1.ensureNetwork(lan(10, List.of("10.247.0.2", "1.2.3.4; reboot"))));
        assertEquals(Status.Code.INVALID_ARGUMENT, hostile.getStatus().getCode());
        assertTrue(hostile.getStatus().getDescription().startsWith("peer_addresses[1]: \"1.2.3.4; reboot\" is not accepted"),
                hostile.getStatus().getDescription());

        namespaces.ip(hostNamespace.get("hv1"), "link", "add", "vxlan20", "type", "vxlan", "id", "21", "dstport", "4789",
                "dev", "ul0");
        StatusRuntimeException conflict = assertThrows(StatusRuntimeException.class,
                () -> hv1.ensureNetwork(lan(20, List.of("10.247.0.2"))));
        assertEquals(Status.Code.FAILED_PRECONDITION, conflict.getStatus().getCode());
        assertTrue(conflict.getStatus().getDescription().startsWith("LAN 20: vxlan20 exists with VNI 21"),
                conflict.getStatus().getDescription());

        StatusRuntimeException noBridge = assertThrows(StatusRuntimeException.class,
                () -> hv1.ensureNetwork(EnsureNetworkRequest.newBuilder().setNetwork(NetworkSpec.newBuilder()
                        .setFailover(FailoverIp.newBuilder().setAddress("203.0.113.7").setMac("02:00:00:ab:cd:ef"))).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, noBridge.getStatus().getCode());
        assertTrue(noBridge.getStatus().getDescription().startsWith("public bridge br0 (public-bridge in the agent's"
                + " configuration) does not exist on this host"), noBridge.getStatus().getDescription());
    }
}
