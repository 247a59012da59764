package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.Agent;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.EnrollRequest;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.RenewRequest;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Enroll is open to anyone: junk tokens are refused before the queue, and a flood with a live token fills its short
 * queue and is answered RESOURCE_EXHAUSTED, while renewals and heartbeats, which have workers of their own, carry on. The enrollment worker is held on a latch,
 * so the queue is full for as long as the test says, whatever the machine's speed.
 */
class EnrollmentFloodTest {
    private static final int OVERFLOW = 8;

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Transport anonymous;
    private ManagedChannel channel;
    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void stop() {
        release.countDown();
        if (channel != null) {
            channel.shutdownNow(); // a channel left to the garbage collector is logged as an error by gRPC
        }
        if (anonymous != null) {
            anonymous.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aFloodFillsTheEnrollQueueWhileRenewalsAndHeartbeatsCarryOn() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of(new TestDriverNode("hv1", 4, 4096)))
                .heartbeat(Duration.ofMillis(200)).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        Agent agent = fleet.agent("hv1");
        CountDownLatch held = new CountDownLatch(1);
        fleet.controller().enrollmentEndpoint().enrollWork().execute(() -> {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(held.await(30, TimeUnit.SECONDS), "the enrollment worker is held");

        String ca = CertificateAuthority.fingerprint(agent.credentials().ca());
        anonymous = Transport.forEnrollment("flood");
        channel = anonymous.enrollmentChannel(fleet.controllerEndpoint(), ca, Runnable::run);
        EnrollmentGrpc.EnrollmentStub enroll = EnrollmentGrpc.newStub(channel);
        String csr = Pem.of(Keys.signingRequest(Keys.generate(), "junk"));
        BlockingQueue<Status> answers = new LinkedBlockingQueue<>();
        // Only a live token gets past the checks made before the queue: whoever holds one (leaked, say) floods with it.
        String live;
        try (Clients asAdmin = Clients.as(fleet.adminCredentials())) {
            live = FleetGrpc.newBlockingStub(asAdmin.controller(fleet.controllerEndpoint())).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .createJoinToken(CreateJoinTokenRequest.newBuilder().setTtlSeconds(600).build()).getToken();
        }
        for (int i = 0; i < EnrollmentEndpoint.ENROLL_QUEUE + OVERFLOW; i++) {
            enroll.enroll(EnrollRequest.newBuilder().setJoinToken(live).setHostName("junk" + i).setCsrPem(csr).build(),
                    recorder(answers));
        }
        for (int i = 0; i < OVERFLOW; i++) {
            Status s = answers.take();
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, s.getCode(), s.toString());
        }
        // Right shape and CA but unknown: refused at once from memory, full queue or not.
        enroll.enroll(EnrollRequest.newBuilder().setJoinToken("vfjoin1." + "0".repeat(16) + "." + "A".repeat(43) + "." + ca)
                .setHostName("junk").setCsrPem(csr).build(), recorder(answers));
        Status unknown = answers.take();
        assertEquals(Status.Code.PERMISSION_DENIED, unknown.getCode(), unknown.toString());
        assertEquals("unknown join token", unknown.getDescription());
        // Too big, or of the wrong shape: refused at once, full queue or not.
        enroll.enroll(EnrollRequest.newBuilder().setJoinToken("x").setHostName("big")
                .setCsrPemBytes(ByteString.copyFrom(new byte[EnrollmentEndpoint.MAX_ENROLL_REQUEST_BYTES])).build(), recorder(answers));
        Status big = answers.take();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, big.getCode(), big.toString());
        assertTrue(big.getDescription().contains("at most " + EnrollmentEndpoint.MAX_ENROLL_REQUEST_BYTES), big.toString());
        enroll.enroll(EnrollRequest.newBuilder().setJoinToken("vfjoin1.nonsense").setHostName("junk").setCsrPem(csr).build(),
                recorder(answers));
        Status malformed = answers.take();
        assertEquals(Status.Code.PERMISSION_DENIED, malformed.getCode(), malformed.toString());
        assertTrue(malformed.getDescription().contains("malformed"), malformed.toString());

        // Meanwhile, with the enrollment worker still held: a renewal completes...
        X509Certificate before = agent.credentials().certificate();
        try (Clients asAgent = Clients.as(agent.credentials())) {
            CertificateResponse renewed = EnrollmentGrpc.newBlockingStub(asAgent.controller(fleet.controllerEndpoint()))
                    .withDeadlineAfter(30, TimeUnit.SECONDS)
                    .renew(RenewRequest.newBuilder().setCsrPem(Pem.of(Keys.signingRequest(Keys.generate(), "hv1"))).build());
            X509Certificate cert = Pem.certificates(renewed.getCertificatePem()).get(0);
            assertNotEquals(before.getSerialNumber(), cert.getSerialNumber());
        }
        // ...and the agent's heartbeats go on being accepted.
        long accepted = agent.link().heartbeatsAccepted();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (agent.link().heartbeatsAccepted() < accepted + 2 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(agent.link().heartbeatsAccepted() >= accepted + 2, "heartbeats accepted while the queue is full");
        assertTrue(answers.isEmpty(), "the queued enrollments still wait: " + answers);

        // Released, the queued requests are answered in turn: one enrolls, the token then is used up for the rest.
        release.countDown();
        List<Status> queued = new ArrayList<>();
        for (int i = 0; i < EnrollmentEndpoint.ENROLL_QUEUE; i++) {
            queued.add(answers.take());
        }
        assertEquals(1, queued.stream().filter(s -> s.getCode() == Status.Code.OK).count(), queued.toString());
        assertEquals(EnrollmentEndpoint.ENROLL_QUEUE - 1, queued.stream().filter(s -> s.getCode() == Status.Code.PERMISSION_DENIED
                && s.getDescription().contains("was already used")).count(), queued.toString());
    }

    private static StreamObserver<CertificateResponse> recorder(BlockingQueue<Status> answers) {
        return new StreamObserver<>() {
            @Override
            public void onNext(CertificateResponse value) {
                answers.add(Status.OK.withDescription("enrolled?!"));
            }

            @Override
            public void onError(Throwable t) {
                answers.add(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
            }
        };
    }
}
