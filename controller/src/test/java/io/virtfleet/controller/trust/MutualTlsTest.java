package io.virtfleet.controller.trust;

import io.virtfleet.controller.testkit.CliRun;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every port speaks mutual TLS with the fleet CA, and every identity can do exactly what its role allows. */
class MutualTlsTest {
    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;

    @BeforeAll
    static void startFleet() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).heartbeat(Duration.ofMillis(200)).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stopFleet() {
        fleet.close();
    }

    private static Endpoint agentEndpoint(String host) {
        return Endpoint.parse("agent", fleet.controller().registry().get(host).orElseThrow().agentEndpoint());
    }

    private static Status.Code codeOf(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    @Test
    void plaintextClientsAreRefusedOnTheControllerAndAgentPorts() {
        for (Endpoint port : List.of(fleet.controllerEndpoint(), agentEndpoint("hv1"))) {
            ManagedChannel plain = NettyChannelBuilder.forAddress(port.bareHost(), port.port()).usePlaintext().build();
            try {
                assertEquals(Status.Code.UNAVAILABLE, codeOf(() -> FleetGrpc.newBlockingStub(plain)
                        .withDeadlineAfter(5, java.util.concurrent.TimeUnit.SECONDS)
                        .listHosts(ListHostsRequest.getDefaultInstance())), port.toString());
                assertEquals(Status.Code.UNAVAILABLE, codeOf(() -> RegistryGrpc.newBlockingStub(plain)
                        .withDeadlineAfter(5, java.util.concurrent.TimeUnit.SECONDS)
                        .register(RegisterRequest.newBuilder().setAgentId("x").setAgentEndpoint("127.0.0.1:1")
                                .setReport(HostReport.newBuilder().setHostName("hv9")).build())), port.toString());
            } finally {
                plain.shutdownNow();
            }
        }
        assertTrue(fleet.controller().registry().get("hv9").isEmpty(), "nothing registered");
    }

    @Test
    void aCertificateFromAnotherCaIsRefused() throws Exception {
        CertificateAuthority other = CertificateAuthority.loadOrCreate(work.resolve("other-ca"), Clock.systemUTC());
        KeyPair keys = Keys.generate();
        var foreign = other.issue(keys.getPublic(), FleetIdentity.operator("admin", FleetIdentity.Role.ADMIN),
                Duration.ofDays(1), List.of());
        // The client trusts the real fleet CA, but presents a certificate the fleet CA never signed.
        TlsCredentials impostor = new TlsCredentials(keys.getPrivate(), foreign, fleet.controller().pki().ca().certificate());
        try (Clients clients = Clients.as(impostor)) {
            assertEquals(Status.Code.UNAVAILABLE, codeOf(() -> FleetGrpc.newBlockingStub(clients.controller(fleet.controllerEndpoint()))
                    .listHosts(ListHostsRequest.getDefaultInstance())));
            assertEquals(Status.Code.UNAVAILABLE, codeOf(() -> AgentGrpc.newBlockingStub(clients.agent(agentEndpoint("hv1"), "hv1"))
                    .describeHost(DescribeHostRequest.getDefaultInstance())));
        }
    }

    @Test
    void withoutACertificateOnlyEnrollmentIsOpen() throws Exception {
        try (Transport anonymous = Transport.forEnrollment("anonymous")) {
            ManagedChannel channel = anonymous.enrollmentChannel(fleet.controllerEndpoint(),
                    fleet.controller().pki().ca().fingerprint(), Runnable::run);
            try {
                assertEquals(Status.Code.UNAUTHENTICATED, codeOf(() -> FleetGrpc.newBlockingStub(channel)
                        .listHosts(ListHostsRequest.getDefaultInstance())));
                assertEquals(Status.Code.UNAUTHENTICATED, codeOf(() -> RegistryGrpc.newBlockingStub(channel)
                        .heartbeat(HeartbeatRequest.newBuilder().setSessionId("x").build())));
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    void anAgentCannotHeartbeatAsAnotherHost() {
        try (Clients asHv1 = Clients.as(fleet.agent("hv1").credentials())) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
                    RegistryGrpc.newBlockingStub(asHv1.controller(fleet.controllerEndpoint())).heartbeat(
                            HeartbeatRequest.newBuilder().setSessionId("whatever")
                                    .setReport(HostReport.newBuilder().setHostName("hv2")).build()));
            assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("virtfleet:agent:hv1 cannot speak for host \"hv2\""),
                    e.getStatus().getDescription());
        }
    }

    @Test
    void eachIdentityStaysInItsLane() {
        try (Clients admin = Clients.as(fleet.adminCredentials());
             Clients agent = Clients.as(fleet.agent("hv1").credentials())) {
            // An operator, even an admin, cannot command an agent directly: only the controller can.
            assertEquals(Status.Code.PERMISSION_DENIED, codeOf(() -> AgentGrpc.newBlockingStub(admin.agent(agentEndpoint("hv2"), "hv2"))
                    .describeHost(DescribeHostRequest.getDefaultInstance())));
            // An agent cannot read or change the fleet.
            assertEquals(Status.Code.PERMISSION_DENIED, codeOf(() -> FleetGrpc.newBlockingStub(agent.controller(fleet.controllerEndpoint()))
                    .listHosts(ListHostsRequest.getDefaultInstance())));
            // An agent's channel to another agent is refused by that agent.
            assertEquals(Status.Code.PERMISSION_DENIED, codeOf(() -> AgentGrpc.newBlockingStub(agent.agent(agentEndpoint("hv2"), "hv2"))
                    .describeHost(DescribeHostRequest.getDefaultInstance())));
        }
    }

    @Test
    void aViewerReadsButCannotChangeAnything() throws Exception {
        Path viewer = work.resolve("alice.pem");
        CliRun added = cli(fleet.adminCredentials(), "operator", "add", "alice", "--role", "viewer", "--out", viewer.toString());
        assertEquals(0, added.code(), added.err());
        assertTrue(added.out().contains("Wrote credentials of alice (viewer)"), added.out());

        assertEquals(0, cli(viewer, "hosts").code());
        assertEquals(0, cli(viewer, "host", "show", "hv1").code());
        for (String[] change : List.of(
                new String[] {"host", "forget", "hv1"},
                new String[] {"agent", "token", "create"},
                new String[] {"operator", "add", "mallory", "--role", "admin", "--out", work.resolve("m.pem").toString()})) {
            CliRun refused = cli(viewer, change);
            assertEquals(5, refused.code(), String.join(" ", change) + ": " + refused.err());
            assertTrue(refused.err().contains("operator alice (viewer) may not call"), refused.err());
        }
        assertTrue(fleet.controller().registry().get("hv1").isPresent(), "hv1 was not forgotten");
        assertTrue(!work.resolve("m.pem").toFile().exists());
    }

    @Test
    void missingCredentialsExitFiveAndSayWhereToGetThem() {
        CliRun run = cli(work.resolve("nobody.pem"), "hosts");
        assertEquals(5, run.code());
        assertTrue(run.err().contains("no operator credentials at"), run.err());
        assertTrue(run.err().contains("virtfleet operator add"), run.err());
    }


    private static CliRun cli(Path credentials, String... args) {
        return CliRun.as(fleet.controllerEndpoint(), credentials, args);
    }
}
