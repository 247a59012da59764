package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An agent started before its controller waits for it, never exits, and registers once it is there. */
class AgentStartupTest {
    @TempDir
    Path work;

    @Test
    void agentKeepsRetryingUntilTheControllerAppears() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String uri = new TestDriverNode("hv1", 4, 4096).domain("web", 1, 256, true).writeTo(work);
        Files.createDirectories(work.resolve("images"));
        AgentConfig config = new AgentConfig("hv1", new Endpoint("127.0.0.1", port), new InetSocketAddress("127.0.0.1", 0),
                null, uri, Duration.ofMillis(100), Duration.ofMillis(400), work.resolve("images"), work.resolve("state"),
                List.of("raw"));
        try (Agent agent = Agent.create(config).start()) {
            Thread.sleep(1000);
            assertFalse(agent.registered(), "no controller yet");
            try (Controller controller = Controller.create(new ControllerConfig(new InetSocketAddress("127.0.0.1", port),
                    Duration.ofMillis(100), Duration.ofSeconds(1), work.resolve("controller"))).start()) {
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (!agent.registered() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertTrue(agent.registered(), "registered after the controller came up");
                assertTrue(controller.registry().get("hv1").isPresent());
            }
        }
    }
}
