package io.virtfleet.controller.registry;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.scheduler.ClaimBook;
import io.virtfleet.controller.scheduler.Decision;
import io.virtfleet.controller.scheduler.FleetFeed;
import io.virtfleet.controller.scheduler.Policy;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.StorageTier;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The controller orders a fenced host's agent to stand down in its Register and Heartbeat answers, and only that
 * host's; a host that reports standing down is judged not ready, so placement does not choose it.
 */
class StandDownOrderTest {
    @TempDir
    Path dir;

    private final HostRegistry registry = new HostRegistry();
    private final FenceView.InMemory fences = FenceView.inMemory();
    private Transport transport;
    private Transport agentSide;
    private Server server;
    private ManagedChannel channel;
    private RegistryGrpc.RegistryBlockingStub agents;

    @BeforeEach
    void serve() throws Exception {
        transport = Transport.plaintextForTests("stand-down-test", 1);
        agentSide = Transport.plaintextForTests("stand-down-agent", 1);
        // As the controller serves agents: handlers on the event loop (a direct executor).
        server = transport.startServer(new InetSocketAddress("127.0.0.1", 0), Runnable::run,
                List.of(new RegistryEndpoint(registry, new EnrolledHosts(dir.resolve("enrolled-hosts")),
                        Duration.ofSeconds(1), Duration.ofMinutes(1), () -> "", () -> 0, fences)), List.of(), List.of(), false);
        channel = agentSide.channel(new Endpoint("127.0.0.1", server.getPort()), FleetIdentity.controller(), Runnable::run);
        agents = RegistryGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
        agentSide.close();
        transport.close();
    }

    private static HostReport report(String host, long freeMemory, boolean standingDown) {
        return HostReport.newBuilder().setHostName(host).setVxlanAddress("10.0.0.2").setStandingDown(standingDown)
                .setResources(HostResources.newBuilder().setLogicalThreads(16).setMemoryTotalBytes(64 * GIB)
                        .setMemoryAvailableBytes(freeMemory).setImagesFreeBytes(500 * GIB).setImagesTotalBytes(1000 * GIB))
                .build();
    }

    private String register(String agentId, HostReport report) {
        return agents.register(RegisterRequest.newBuilder().setAgentId(agentId).setAgentEndpoint("127.0.0.1:1")
                .addStorageTiers("sata").setReport(report).build()).getSessionId();
    }

    private boolean heartbeat(String session, HostReport report) {
        return agents.heartbeat(HeartbeatRequest.newBuilder().setSessionId(session).setReport(report).build()).getStandDown();
    }

    private static Fence fence(String host) {
        Instant now = Instant.parse("2026-12-07T06:00:00Z");
        return new Fence(host, Fence.Kind.CEPH, List.of("10.0.0.1:0/3141592"), now, now.plus(Duration.ofDays(1)),
                "controller");
    }

    @Test
    void onlyAFencedHostIsToldToStandDownAndOnlyWhileItIsFenced() {
        String hv1 = register("a1", report("hv1", 32 * GIB, false));
        String hv2 = register("a2", report("hv2", 32 * GIB, false));
        assertFalse(heartbeat(hv1, report("hv1", 32 * GIB, false)));

        fences.put(fence("hv1"));

        assertTrue(heartbeat(hv1, report("hv1", 32 * GIB, false)), "a fenced host's heartbeat answer");
        assertFalse(heartbeat(hv2, report("hv2", 32 * GIB, false)), "another host is not concerned");
        // An agent that starts again learns it in its Register answer, before it does anything else.
        assertTrue(agents.register(RegisterRequest.newBuilder().setAgentId("a1").setAgentEndpoint("127.0.0.1:1")
                .addStorageTiers("sata").setReport(report("hv1", 32 * GIB, false)).build()).getStandDown());
        assertFalse(agents.register(RegisterRequest.newBuilder().setAgentId("a2").setAgentEndpoint("127.0.0.1:1")
                .addStorageTiers("sata").setReport(report("hv2", 32 * GIB, false)).build()).getStandDown());

        fences.remove("hv1");
        String again = registry.get("hv1").orElseThrow().sessionId();
        assertFalse(heartbeat(again, report("hv1", 32 * GIB, false)), "unfenced: no longer told to stand down");
    }

    @Test
    void aHostStandingDownIsNotReadyAndPlacementDoesNotChooseIt() throws Exception {
        Liveness liveness = new Liveness(Duration.ofMinutes(1), Drains.inMemory());
        try (ClaimBook book = ClaimBook.open(dir.resolve("claims"))) {
            Scheduler scheduler = new Scheduler(Policy.defaults(), Map.of(), book, () -> 7L);
            registry.listen(r -> scheduler.update(FleetFeed.snapshot(r, liveness, registry.nanoTime())), scheduler::forget);
            // hv1 has far more room: placement prefers it while it is ready.
            String hv1 = register("a1", report("hv1", 60 * GIB, false));
            register("a2", report("hv2", 8 * GIB, false));
            assertEquals("hv1", place(scheduler, "first").claim().host());

            fences.put(fence("hv1"));
            assertTrue(heartbeat(hv1, report("hv1", 60 * GIB, false)));
            heartbeat(hv1, report("hv1", 60 * GIB, true)); // the agent now reports standing down

            Liveness.Verdict verdict = liveness.judge(registry.get("hv1").orElseThrow(), registry.nanoTime());
            assertEquals(HostState.HOST_STATE_DEGRADED, verdict.state());
            assertTrue(verdict.reason().contains("standing down (fenced): takes and starts no VM; not stood down yet"),
                    verdict.reason());
            assertEquals("hv2", place(scheduler, "second").claim().host());

            // Stood down and unfenced: ready again, and chosen again.
            fences.remove("hv1");
            assertFalse(heartbeat(hv1, report("hv1", 60 * GIB, false)));
            assertEquals(HostState.HOST_STATE_READY,
                    liveness.judge(registry.get("hv1").orElseThrow(), registry.nanoTime()).state());
            assertEquals("hv1", place(scheduler, "third").claim().host());
        }
    }

    private static Decision place(Scheduler scheduler, String vm) {
        Decision decision = scheduler.place(new Request(vm, GIB, 1, StorageTier.STORAGE_TIER_SATA, 0, null, null, null));
        assertTrue(decision.placed(), () -> "not placed: " + decision.explanation().summary());
        return decision;
    }
}
