package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostVerdict;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A controller and three agents over real gRPC on loopback, each agent on its own libvirt test-driver
 * node (whose size the agent reports), with real OSHI for the rest: what operators see through the fleet API.
 */
class FleetTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration GRACE = Duration.ofMillis(1500);

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients admin;
    private ManagedChannel channel;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void startFleet() throws Exception {
        // With the simulated network: hosts carry LANs (placement takes LAN VMs only to hosts reporting VXLAN).
        fleet = EmbeddedFleet.builder(work).heartbeat(HEARTBEAT).grace(GRACE).simulatedNetwork(true).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        admin = Clients.as(fleet.adminCredentials());
        channel = admin.controller(fleet.controllerEndpoint());
        operator = FleetGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void stopFleet() {
        admin.close();
        fleet.close();
    }

    @Test
    void everyHostAppearsWithItsHypervisorDomainsAndThisMachinesFacts() throws Exception {
        // Two heartbeats after the one each host is at, so CPU utilisation covers a real interval.
        for (String name : List.of("hv1", "hv2", "hv3")) {
            for (int i = 0; i < 2; i++) {
                long seen = host(name).getLastSeenUnixMs();
                await(name + " heartbeating", h -> h.getLastSeenUnixMs() > seen, name);
            }
        }
        List<Host> hosts = operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
        assertEquals(List.of("hv1", "hv2", "hv3"), hosts.stream().map(Host::getName).sorted().toList());

        double load1 = Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        for (TestDriverNode node : fleet.nodes()) {
            Host host = hosts.stream().filter(h -> h.getName().equals(node.name())).findFirst().orElseThrow();
            assertEquals(HostState.HOST_STATE_READY, host.getState(), host.getStateReason());
            assertEquals(fleet.agent(node.name()).agentId(), host.getAgentId());

            HostReport report = host.getReport();
            assertEquals("TEST", report.getHypervisor().getType());
            assertEquals(node.cpus(), report.getHypervisor().getNodeCpus());
            assertEquals(node.memoryMiB() * 1024 * 1024, report.getHypervisor().getNodeMemoryBytes());

            Map<String, DomainInfo> domains = report.getDomainsList().stream()
                    .collect(Collectors.toMap(DomainInfo::getName, d -> d));
            assertEquals(node.domains().size(), domains.size());
            for (TestDriverNode.Domain expected : node.domains()) {
                DomainInfo d = domains.get(expected.name());
                assertEquals(expected.running() ? DomainState.DOMAIN_STATE_RUNNING : DomainState.DOMAIN_STATE_SHUTOFF,
                        d.getState(), expected.name());
                assertEquals(expected.vcpus(), d.getVcpus(), expected.name());
                assertEquals(expected.memoryMiB() * 1024 * 1024, d.getMaxMemoryBytes(), expected.name());
                assertTrue(d.getPersistent(), expected.name());
            }

            // A test-driver host's size is its simulated node's (what placement weighs); the rest is measured.
            HostResources r = report.getResources();
            assertEquals(node.cpus(), r.getLogicalThreads());
            assertEquals(node.cpus(), r.getPhysicalCores());
            assertFalse(r.getCpuModel().isBlank());
            assertEquals(node.memoryMiB() * 1024 * 1024, r.getMemoryTotalBytes());
            long running = node.domains().stream().filter(TestDriverNode.Domain::running)
                    .mapToLong(d -> d.memoryMiB() * 1024 * 1024).sum();
            assertEquals(r.getMemoryTotalBytes() - running, r.getMemoryAvailableBytes(), "what its running domains leave");
            assertEquals(load1, r.getLoadAverage1M(), 1.0, "1-minute load as in /proc/loadavg");
            assertTrue(r.getCpuUtilisationPercent() >= 0 && r.getCpuUtilisationPercent() <= 100);
            assertTrue(r.getImagesFreeBytes() > 0 && r.getImagesFreeBytes() <= r.getImagesTotalBytes());
        }
    }

    @Test
    void theControllerCanReachEachAgentAtItsAdvertisedEndpoint() {
        // Only the controller's identity may call an agent.
        try (Clients asController = Clients.as(fleet.controller().pki().credentials())) {
            for (String name : List.of("hv1", "hv2", "hv3")) {
                Endpoint at = Endpoint.parse("agent_endpoint", host(name).getAgentEndpoint());
                HostReport fresh = AgentGrpc.newBlockingStub(asController.agent(at, name))
                        .describeHost(DescribeHostRequest.getDefaultInstance());
                assertEquals(name, fresh.getHostName());
                assertEquals(host(name).getReport().getDomainsCount(), fresh.getDomainsCount());
            }
        }
    }

    @Test
    void stoppedAgentTurnsUnreachableAndRecoversWhenRestarted() throws Exception {
        String identity = fleet.agent("hv2").agentId();
        long registeredBefore = host("hv2").getRegisteredAtUnixMs();
        fleet.stopAgent("hv2");
        assertEquals(HostState.HOST_STATE_READY, host("hv2").getState(), "still within the grace right after stopping");

        Host down = await("hv2 unreachable", h -> h.getState() == HostState.HOST_STATE_UNREACHABLE);
        assertTrue(down.getLastSeenAgeMs() > GRACE.toMillis(), "judged after the grace: " + down.getLastSeenAgeMs());
        assertTrue(down.getStateReason().startsWith("no heartbeat for"), down.getStateReason());
        assertEquals(HostState.HOST_STATE_READY, host("hv1").getState(), "other hosts are unaffected");

        Agent restarted = fleet.startAgent("hv2");
        assertEquals(identity, restarted.agentId(), "a restarted agent keeps its identity");
        Host back = await("hv2 ready again", h -> h.getState() == HostState.HOST_STATE_READY);
        assertNotEquals(registeredBefore, back.getRegisteredAtUnixMs());
    }

    @Test
    void aSecondAgentCannotEnrollUnderAnEnrolledHostName() throws Exception {
        String owner = fleet.agent("hv1").agentId();
        var impostor = Agent.create(fleet.agentConfig("hv1", work.resolve("impostor")).withJoinToken(fleet.joinToken("hv1")));
        try {
            Enroller.RefusedException refused = assertThrows(Enroller.RefusedException.class, impostor::start);
            assertTrue(refused.getMessage().contains("host hv1 is already enrolled"), refused.getMessage());
            assertTrue(refused.getMessage().contains("--reenroll"), refused.getMessage());
        } finally {
            impostor.close();
        }
        assertEquals(owner, host("hv1").getAgentId());
        assertEquals(HostState.HOST_STATE_READY, host("hv1").getState());
    }

    @Test
    void anAgentCertificateSpeaksOnlyForItsOwnHost() {
        try (Clients asHv2 = Clients.as(fleet.agent("hv2").credentials())) {
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () ->
                    RegistryGrpc.newBlockingStub(asHv2.controller(fleet.controllerEndpoint())).register(register("hv1",
                            "0f4b7c3e-0000-4000-8000-000000000001")));
            assertEquals(Status.Code.PERMISSION_DENIED, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("virtfleet:agent:hv2 cannot speak for host \"hv1\""),
                    refused.getStatus().getDescription());
        }
    }

    @Test
    void aCopiedCertificateWithAnotherAgentIdentityIsRefusedAndTheOwnerStays() {
        String owner = fleet.agent("hv1").agentId();
        try (Clients copy = Clients.as(fleet.agent("hv1").credentials())) {
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () ->
                    RegistryGrpc.newBlockingStub(copy.controller(fleet.controllerEndpoint())).register(register("hv1",
                            "0f4b7c3e-0000-4000-8000-000000000001")));
            assertEquals(Status.Code.ALREADY_EXISTS, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("host name \"hv1\" belongs to agent " + owner),
                    refused.getStatus().getDescription());
        }
        assertEquals(owner, host("hv1").getAgentId());
    }

    private static RegisterRequest register(String host, String agentId) {
        return RegisterRequest.newBuilder().setAgentId(agentId).setAgentEndpoint("127.0.0.1:1")
                .setReport(HostReport.newBuilder().setHostName(host)).build();
    }

    @Test
    void malformedRegistrationIsRefusedNamingTheField() {
        try (Clients asHv1 = Clients.as(fleet.agent("hv1").credentials())) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
                    RegistryGrpc.newBlockingStub(asHv1.controller(fleet.controllerEndpoint())).register(register("hv 9", "a1")));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().startsWith("report.host_name: \"hv 9\""), e.getStatus().getDescription());
        }
        assertEquals(3, operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsCount(), "nothing registered");
    }

    @Test
    void agentsRegisterAgainAfterTheControllerRestarts() throws Exception {
        fleet.restartController();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        channel = admin.controller(fleet.controllerEndpoint());
        operator = FleetGrpc.newBlockingStub(channel);
        for (String name : List.of("hv1", "hv2", "hv3")) {
            assertEquals(HostState.HOST_STATE_READY, await(name + " back", h -> true, name).getState());
        }
    }

    @Test
    void agentsAreBackWithinSecondsOfTheControllerAfterALongOutage() throws Exception {
        // An outage long enough for gRPC's own connect backoff to have grown past 5 s (1, 1.6, 2.6, 4.1, 6.6 s...)
        // is one in which each link has cut that backoff short six times: an agent that left reconnection to gRPC
        // would come back seconds after the controller, and never count one. Counted, not timed.
        fleet.stopController();
        List<String> hosts = List.of("hv1", "hv2", "hv3");
        Map<String, Long> before = new HashMap<>();
        for (String host : hosts) {
            before.put(host, fleet.agent(host).link().reconnectsPaced());
        }
        Await.until("every link paced six reconnections during the outage", Duration.ofSeconds(60),
                () -> hosts.stream().allMatch(h -> fleet.agent(h).link().reconnectsPaced() - before.get(h) >= 6));
        Map<String, Long> listening = new HashMap<>();
        fleet.startController();
        for (String host : hosts) {
            listening.put(host, fleet.agent(host).link().reconnectsPaced());
        }
        fleet.awaitRegistered(Duration.ofSeconds(30));
        // Back at the first or second paced attempt after the controller listened (one may have been under way).
        for (String host : hosts) {
            long after = fleet.agent(host).link().reconnectsPaced() - listening.get(host);
            assertTrue(after <= 2, host + " needed " + after + " paced reconnections after the controller came back");
        }
    }

    @Test
    void aDrainedHostTakesNoNewVmsUntilUndrainedEvenAcrossARestart() throws Exception {
        Host drained = operator.setHostDraining(SetHostDrainingRequest.newBuilder().setName("hv1").setDraining(true).build());
        assertEquals(HostState.HOST_STATE_DRAINING, drained.getState());
        assertTrue(drained.getStateReason().startsWith("drained by an operator"), drained.getStateReason());
        PlacementExplanation e = operator.place(PlaceRequest.newBuilder().setSpec(probe()).build());
        HostVerdict hv1 = e.getVerdictsList().stream().filter(v -> v.getHost().equals("hv1")).findFirst().orElseThrow();
        assertEquals("state", hv1.getFailedFilter());
        assertEquals("host is draining, only ready hosts take new VMs", hv1.getReason());
        assertTrue(!e.getChosenHost().isEmpty() && !e.getChosenHost().equals("hv1"), e.toString());

        fleet.restartController();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        channel = admin.controller(fleet.controllerEndpoint());
        operator = FleetGrpc.newBlockingStub(channel);
        assertEquals(HostState.HOST_STATE_DRAINING, await("hv1 registered again", h -> true, "hv1").getState(),
                "the drain survives a controller restart");

        Host undrained = operator.setHostDraining(SetHostDrainingRequest.newBuilder().setName("hv1").setDraining(false).build());
        assertEquals(HostState.HOST_STATE_READY, undrained.getState());
        HostVerdict back = operator.place(PlaceRequest.newBuilder().setSpec(probe()).build()).getVerdictsList().stream()
                .filter(v -> v.getHost().equals("hv1")).findFirst().orElseThrow();
        assertTrue(back.getFits(), back.toString());
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> operator.setHostDraining(
                SetHostDrainingRequest.newBuilder().setName("hv9").setDraining(true).build()));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
    }

    @Test
    void placementWeighsEachSimulatedHostsOwnSize() {
        // hv1, hv2, hv3: 8, 16, 32 CPUs and 16, 64, 128 GiB, with 2, 3 and 2 running domains.
        PlacementExplanation e = operator.place(PlaceRequest.newBuilder().setSpec(probe()).build());
        Map<String, HostVerdict> verdicts = e.getVerdictsList().stream()
                .collect(Collectors.toMap(HostVerdict::getHost, v -> v));
        assertEquals("hv3", e.getChosenHost(), e.toString());
        for (String part : List.of("vcpus", "memory")) {
            double hv1 = verdicts.get("hv1").getScorePartsOrThrow(part);
            double hv2 = verdicts.get("hv2").getScorePartsOrThrow(part);
            double hv3 = verdicts.get("hv3").getScorePartsOrThrow(part);
            assertTrue(hv1 < hv2 && hv2 < hv3, part + ": the larger node has the larger free share: " + e);
        }
    }

    private static VmSpec probe() {
        return VmSpec.newBuilder().setName("probe").setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(Bytes.GIB)
                .setMemoryBytes(Bytes.GIB).setVcpus(1).setProfile("base").setNetwork(NetworkSpec.newBuilder().setLan(10))
                .build();
    }

    @Test
    void agentWithoutWorkingLibvirtReportsTheUriAndLibvirtsMessage() throws Exception {
        var broken = fleet.agentConfig("hv9", work.resolve("hv9"), "test://" + work.resolve("no-such-node.xml"))
                .withJoinToken(fleet.joinToken("hv9"));
        try (Agent agent = Agent.create(broken).start()) {
            Host h = await("hv9 registered", x -> true, "hv9");
            assertEquals(HostState.HOST_STATE_DEGRADED, h.getState());
            assertTrue(h.getStateReason().startsWith("libvirt at test://" + work.resolve("no-such-node.xml") + ": "),
                    h.getStateReason());
            assertEquals(0, h.getReport().getDomainsCount());
            assertTrue(h.getReport().getDomainsStale(), "libvirt never answered: no domains known");
        }
    }

    private Host host(String name) {
        return operator.getHost(GetHostRequest.newBuilder().setName(name).build());
    }

    private Host await(String what, Predicate<Host> condition) throws InterruptedException {
        return await(what, condition, "hv2");
    }

    private Host await(String what, Predicate<Host> condition, String name) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            try {
                Host h = host(name);
                if (condition.test(h)) {
                    return h;
                }
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                    throw e;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("timed out waiting for " + what);
    }
}
