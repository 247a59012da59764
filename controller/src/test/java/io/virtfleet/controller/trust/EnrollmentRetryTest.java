package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent whose first Enroll call is lost after the controller used up its join token (the connection is cut
 * while the controller answers, as a reset on a slow network would) enrolls on its retry, then registers and
 * heartbeats; the used token still enrolls nobody else.
 */
class EnrollmentRetryTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);

    @TempDir
    Path work;

    private final Logger enrollmentLog = Logger.getLogger(EnrollmentEndpoint.class.getName());
    private final List<String> enrollmentMessages = new CopyOnWriteArrayList<>();
    private Handler capture;
    private EmbeddedFleet fleet;
    private CuttableForwarder forwarder;

    @AfterEach
    void stop() throws IOException {
        if (capture != null) {
            enrollmentLog.removeHandler(capture);
            enrollmentLog.setLevel(null);
        }
        if (forwarder != null) {
            forwarder.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void anEnrollmentWhoseAnswerIsLostSucceedsOnTheAgentsRetry() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of(new TestDriverNode("hv1", 4, 4096)))
                .heartbeat(HEARTBEAT).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        forwarder = new CuttableForwarder(fleet.controllerEndpoint().port());

        // The controller logs an enrollment after it used up the token and signed the certificate, just before it
        // answers: cutting the agent's connection right then (on the enrolling thread) loses the answer for sure.
        AtomicInteger cuts = new AtomicInteger();
        capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                String m = r.getMessage();
                enrollmentMessages.add(m);
                if (m.startsWith("enrolled host hv2 ") && cuts.getAndIncrement() == 0) {
                    forwarder.cutAll();
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        enrollmentLog.setLevel(Level.ALL);
        enrollmentLog.addHandler(capture);

        String token = fleet.joinToken("hv2");
        Path stateDir = work.resolve("hv2");
        AgentConfig config = viaController(fleet.agentConfig("hv2", stateDir).withJoinToken(token),
                new Endpoint("127.0.0.1", forwarder.port()));
        try (Agent hv2 = Agent.create(config).start()) {
            assertEquals(1, cuts.get(), "the first answer was lost: " + enrollmentMessages);
            assertTrue(enrollmentMessages.stream().anyMatch(m -> m.startsWith("host hv2: re-sent the certificate of enrollment ")
                    && m.contains(" after a retry")), enrollmentMessages.toString());
            assertEquals("hv2", hv2.credentials().identity().name());
            assertTrue(Files.exists(stateDir.resolve("agent.pem")));
            assertFalse(Files.exists(stateDir.resolve("enrollment-key.pem")), "the enrollment key became the credentials");

            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while ((!hv2.registered() || hv2.link().heartbeatsAccepted() < 2) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(hv2.registered(), "registered after enrolling on the retry");
            assertTrue(hv2.link().heartbeatsAccepted() >= 2, "heartbeats accepted: " + hv2.link().heartbeatsAccepted());
            assertEquals(hv2.agentId(), fleet.controller().registry().get("hv2").orElseThrow().agentId());
        }

        // The used token with another key (another machine's state directory) is refused as before.
        Agent copy = Agent.create(fleet.agentConfig("hv2", work.resolve("hv2-copy")).withJoinToken(token));
        try {
            Enroller.RefusedException refused = assertThrows(Enroller.RefusedException.class, copy::start);
            assertTrue(refused.getMessage().contains("was already used"), refused.getMessage());
        } finally {
            copy.close();
        }
    }

    private static AgentConfig viaController(AgentConfig c, Endpoint controller) {
        return new AgentConfig(c.hostName(), controller, c.listen(), c.advertise(), c.libvirtUri(), c.heartbeatInterval(),
                c.maxBackoff(), c.imagesDirectory(), c.stateDirectory(), c.storageTiers(), c.joinToken(), c.joinTokenFile(),
                c.ceph(), c.vxlanDevice(), c.vxlanLocalAddress(), c.vxlanPort(), c.publicBridge(), c.definitionsDirectory(),
                c.definitionsRemote(), c.installerDirectory(), c.publicAddress());
    }

    /** Forwards loopback TCP connections to the controller, and can cut all open ones at once. */
    private static final class CuttableForwarder implements AutoCloseable {
        private final ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final int target;
        private final List<Socket> open = new CopyOnWriteArrayList<>();

        CuttableForwarder(int target) throws IOException {
            this.target = target;
            Thread accept = new Thread(this::accept, "forwarder-accept");
            accept.setDaemon(true);
            accept.start();
        }

        int port() {
            return listener.getLocalPort();
        }

        private void accept() {
            while (!listener.isClosed()) {
                try {
                    Socket client = listener.accept();
                    Socket server = new Socket(InetAddress.getLoopbackAddress(), target);
                    open.add(client);
                    open.add(server);
                    pump(client, server);
                    pump(server, client);
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buffer = new byte[16384];
                try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                    for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                        out.write(buffer, 0, n);
                        out.flush();
                    }
                } catch (IOException e) {
                    // cut or closed
                } finally {
                    closeQuietly(from);
                    closeQuietly(to);
                }
            }, "forwarder-pump");
            t.setDaemon(true);
            t.start();
        }

        /** Closes every connection open now, both ends: the peers see a reset connection. */
        void cutAll() {
            for (Socket s : open) {
                try {
                    s.setSoLinger(true, 0); // an RST, as a dropped connection gives
                } catch (IOException e) {
                    // already closed
                }
                closeQuietly(s);
            }
            open.clear();
        }

        private static void closeQuietly(Socket s) {
            try {
                s.close();
            } catch (IOException e) {
                // nothing to do
            }
        }

        @Override
        public void close() throws IOException {
            listener.close();
            cutAll();
        }
    }
}
