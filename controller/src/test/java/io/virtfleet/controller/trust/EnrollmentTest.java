package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.cli.VirtfleetCli;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Agents join with one-time tokens, renew their certificates as they go, and are never stranded. */
class EnrollmentTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);

    @TempDir
    Path work;

    private final List<String> refusals = new CopyOnWriteArrayList<>();
    private final Logger enrollmentLog = Logger.getLogger(EnrollmentEndpoint.class.getName());
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                refusals.add(r.getMessage());
            }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };
    private EmbeddedFleet fleet;

    @BeforeEach
    void captureRefusals() {
        enrollmentLog.setLevel(Level.ALL);
        enrollmentLog.addHandler(capture);
    }

    @AfterEach
    void stop() {
        enrollmentLog.removeHandler(capture);
        enrollmentLog.setLevel(null);
        if (fleet != null) {
            fleet.close();
        }
    }

    private EmbeddedFleet start(Duration agentCertificateLifetime, String... hosts) throws Exception {
        List<TestDriverNode> nodes = new ArrayList<>();
        for (String h : hosts) {
            nodes.add(new TestDriverNode(h, 4, 4096).domain(h + "-vm", 1, 256, true));
        }
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(nodes).heartbeat(HEARTBEAT)
                .agentCertificateLifetime(agentCertificateLifetime).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        return fleet;
    }

    private Enroller.RefusedException refusedStart(AgentConfig config) {
        Agent agent = Agent.create(config);
        try {
            return assertThrows(Enroller.RefusedException.class, agent::start);
        } finally {
            agent.close();
        }
    }

    @Test
    void reusedExpiredAndWrongTokensAreRefusedAndLogged() throws Exception {
        start(Duration.ofDays(1), "hv1");
        String token = fleet.joinToken("hv2");
        try (Agent hv2 = Agent.create(fleet.agentConfig("hv2", work.resolve("hv2")).withJoinToken(token)).start()) {
            assertTrue(hv2.credentials().identity().name().equals("hv2"));
        }
        // Reused, by another new host:
        Enroller.RefusedException reused = refusedStart(fleet.agentConfig("hv2", work.resolve("hv2-copy")).withJoinToken(token));
        assertTrue(reused.getMessage().contains("was already used"), reused.getMessage());

        // Expired:
        io.virtfleet.proto.v1.JoinToken made = fleet.controller().enrollments().createJoinToken(
                io.virtfleet.proto.v1.CreateJoinTokenRequest.newBuilder().setTtlSeconds(1).build());
        String shortLived = made.getToken();
        sleepPast(made.getExpiresAtUnixMs());
        Enroller.RefusedException expired = refusedStart(fleet.agentConfig("hv3", work.resolve("hv3")).withJoinToken(shortLived));
        assertTrue(expired.getMessage().contains("expired at"), expired.getMessage());

        // Wrong: right shape and CA, unknown secret.
        String[] p = fleet.joinToken("hv4").split("\\.");
        String wrong = p[0] + "." + p[1] + "." + "x".repeat(43) + "." + p[3];
        Enroller.RefusedException unknown = refusedStart(fleet.agentConfig("hv4", work.resolve("hv4")).withJoinToken(wrong));
        assertEquals("unknown join token", unknown.getMessage());

        assertEquals(3, refusals.size(), refusals.toString());
        assertTrue(refusals.stream().allMatch(m -> m.startsWith("refused enrollment of host")), refusals.toString());
        assertTrue(fleet.controller().registry().get("hv3").isEmpty() && fleet.controller().registry().get("hv4").isEmpty());
    }

    @Test
    void certificatesAreRenewedWhileHeartbeatsFlowWithoutLosingOne() throws Exception {
        start(Duration.ofSeconds(3), "hv1");
        Agent agent = fleet.agent("hv1");
        BigInteger first = agent.credentials().certificate().getSerialNumber();
        long acceptedBefore = agent.link().heartbeatsAccepted();
        long failedBefore = agent.link().callsFailed();
        List<Long> beats = new ArrayList<>();
        long last = -1;
        long until = System.nanoTime() + Duration.ofSeconds(7).toNanos();
        while (System.nanoTime() < until) {
            long seen = fleet.controller().registry().get("hv1").orElseThrow().lastSeenNanos();
            if (seen != last) {
                beats.add(seen);
                last = seen;
            }
            Thread.sleep(10);
        }
        BigInteger now = agent.credentials().certificate().getSerialNumber();
        assertNotEquals(first, now, "renewed at least once (renewal at 2 s of a 3 s life)");
        long maxGapMs = 0;
        for (int i = 1; i < beats.size(); i++) {
            maxGapMs = Math.max(maxGapMs, (beats.get(i) - beats.get(i - 1)) / 1_000_000);
        }
        assertEquals(failedBefore, agent.link().callsFailed(), "no heartbeat failed across the renewals");
        long accepted = agent.link().heartbeatsAccepted() - acceptedBefore;
        assertTrue(accepted >= 15, "about 35 heartbeats in 7 s, the controller accepted " + accepted);
        // Loose on purpose (the machine is shared): a stall around a renewal would show as a second-long gap.
        assertTrue(maxGapMs < 5 * HEARTBEAT.toMillis(), "longest gap between heartbeats " + maxGapMs + " ms over "
                + beats.size() + " heartbeats");
    }

    @Test
    void theControllerRenewsItsOwnCertificateWhileAgentsAndOperatorsCarryOn() throws Exception {
        List<TestDriverNode> nodes = List.of(new TestDriverNode("hv1", 4, 4096));
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(nodes).heartbeat(HEARTBEAT)
                .controllerCertificateLifetime(Duration.ofSeconds(3)).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        BigInteger first = fleet.controller().pki().credentials().certificate().getSerialNumber();
        long failedBefore = fleet.agent("hv1").link().callsFailed();
        // Renewed at two thirds of its life; then past the first certificate's end, so only the new one can work.
        sleepPast(fleet.controller().pki().credentials().certificate().getNotAfter().getTime());
        assertNotEquals(first, fleet.controller().pki().credentials().certificate().getSerialNumber(), "renewed");
        assertEquals(failedBefore, fleet.agent("hv1").link().callsFailed(), "the agent's heartbeats never failed");
        // A new connection handshakes with the renewed certificate.
        StringWriter err = new StringWriter();
        assertEquals(0, VirtfleetCli.run(new PrintWriter(new StringWriter()), new PrintWriter(err), "--controller",
                fleet.controllerEndpoint().toString(), "--credentials", fleet.adminCredentials().toString(), "hosts"), err.toString());
    }

    @Test
    void aHostOffPastItsCertificatesLifeReEnrollsWithAFreshTokenAndItsOldCertificateDies() throws Exception {
        start(Duration.ofSeconds(2), "hv1");
        TlsCredentials old = fleet.agent("hv1").credentials();
        fleet.stopAgent("hv1");
        sleepPast(old.certificate().getNotAfter().getTime()); // the certificate expires while the host is off

        AgentConfig config = fleet.agentConfig("hv1", work.resolve("fleet").resolve("agents").resolve("hv1"));
        Enroller.RefusedException stranded = refusedStart(config);
        assertTrue(stranded.getMessage().contains("expired at"), stranded.getMessage());
        assertTrue(stranded.getMessage().contains("virtfleet agent token create --host hv1 --reenroll"), stranded.getMessage());

        // The operator's one action: a re-enrollment token, handed to the host.
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = VirtfleetCli.run(new PrintWriter(out), new PrintWriter(err), "--controller", fleet.controllerEndpoint().toString(),
                "--credentials", fleet.adminCredentials().toString(), "agent", "token", "create", "--host", "hv1", "--reenroll");
        assertEquals(0, code, err.toString());
        try (Agent back = Agent.create(config.withJoinToken(out.toString().strip())).start()) {
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!back.registered() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(back.registered(), "re-enrolled and registered");
            // A plain token cannot take over an enrolled name; the re-enrollment token could, once.
            try (Clients stale = Clients.as(old)) {
                Status.Code c = assertThrows(StatusRuntimeException.class, () -> RegistryGrpc.newBlockingStub(
                        stale.controller(fleet.controllerEndpoint())).register(RegisterRequest.newBuilder()
                        .setAgentId(back.agentId()).setAgentEndpoint("127.0.0.1:1")
                        .setReport(HostReport.newBuilder().setHostName("hv1")).build())).getStatus().getCode();
                // Expired: TLS itself refuses it.
                assertEquals(Status.Code.UNAVAILABLE, c);
            }
        }
    }

    /**
     * Waits until the wall clock, which judges expiry, has passed {@code unixMs} (an expiry the test arranged); the
     * instant itself is the event, so a busy machine only makes it later, never wrong.
     */
    private static void sleepPast(long unixMs) throws InterruptedException {
        long left;
        while ((left = unixMs - System.currentTimeMillis()) >= 0) {
            Thread.sleep(left + 1);
        }
    }
}
