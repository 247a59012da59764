package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Agents wait for their controller, never exit, and get going once it is there. */
class AgentStartupTest {
    @TempDir
    Path work;

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void enrolledAgentKeepsRetryingUntilTheControllerAppears() throws Exception {
        int port = freePort();
        AgentConfig config;
        // Enroll once, then take the controller away.
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work).nodes(List.of(new TestDriverNode("hv1", 4, 4096)))
                .heartbeat(Duration.ofMillis(100)).controllerPort(port).build().start()) {
            fleet.awaitRegistered(Duration.ofSeconds(20));
            config = fleet.agentConfig("hv1", work.resolve("agents").resolve("hv1"));
        }
        CompletableFuture<String> failedAttempt = warning("io.virtfleet.agent.registration.ControllerLink",
                "cannot reach controller");
        try (Agent agent = Agent.create(config).start()) {
            failedAttempt.get(30, TimeUnit.SECONDS); // it has tried, and goes on trying
            assertFalse(agent.registered(), "no controller yet");
            try (Controller controller = Controller.create(ControllerConfig.of(new InetSocketAddress("127.0.0.1", port),
                    Duration.ofMillis(100), Duration.ofSeconds(1), work.resolve("controller"))).start()) {
                awaitRegistered(agent);
                assertTrue(controller.registry().get("hv1").isPresent());
            }
        }
    }

    @Test
    void newAgentWaitsForTheControllerToEnroll() throws Exception {
        int port = freePort();
        String token;
        AgentConfig config;
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work).nodes(List.of(new TestDriverNode("hv1", 4, 4096)))
                .heartbeat(Duration.ofMillis(100)).controllerPort(port).build().start()) {
            token = fleet.joinToken("hv2");
            config = fleet.agentConfig("hv1", work.resolve("unused"));
        }
        AgentConfig hv2 = new AgentConfig("hv2", config.controller(), config.listen(), null, config.libvirtUri(),
                Duration.ofMillis(100), Duration.ofMillis(400), work.resolve("hv2"), work.resolve("hv2"), List.of("raw"),
                token, null, config.ceph(), null, null, config.vxlanPort(), config.publicBridge(),
                work.resolve("hv2/definitions"), null, config.installerDirectory(), null);
        CompletableFuture<String> failedAttempt = warning("io.virtfleet.agent.enrollment.CredentialSource",
                "cannot enroll: controller unreachable");
        try (Agent agent = Agent.create(hv2)) {
            CompletableFuture<Void> started = CompletableFuture.runAsync(() -> {
                try {
                    agent.start();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            failedAttempt.get(30, TimeUnit.SECONDS); // it has tried to enroll, and goes on trying
            assertFalse(started.isDone(), "still waiting to enroll");
            try (Controller controller = Controller.create(ControllerConfig.of(new InetSocketAddress("127.0.0.1", port),
                    Duration.ofMillis(100), Duration.ofSeconds(1), work.resolve("controller"))).start()) {
                started.get(30, TimeUnit.SECONDS);
                awaitRegistered(agent);
                assertTrue(controller.registry().get("hv2").isPresent());
            }
        }
    }

    /** Completes with the first warning of logger {@code name} that contains {@code text}. */
    private static CompletableFuture<String> warning(String name, String text) {
        CompletableFuture<String> seen = new CompletableFuture<>();
        Logger logger = Logger.getLogger(name);
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel() == Level.WARNING && r.getMessage() != null && r.getMessage().contains(text)) {
                    seen.complete(r.getMessage());
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        logger.addHandler(handler);
        seen.whenComplete((m, e) -> logger.removeHandler(handler));
        return seen;
    }

    private static void awaitRegistered(Agent agent) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!agent.registered() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(agent.registered(), "registered after the controller came up");
    }
}
