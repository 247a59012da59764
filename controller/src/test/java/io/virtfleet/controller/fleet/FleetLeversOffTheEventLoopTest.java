package io.virtfleet.controller.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.trust.ControllerPki;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.controller.trust.Enrollments;
import io.virtfleet.controller.trust.JoinTokens;
import io.virtfleet.controller.trust.RevokedOperators;
import io.virtfleet.proto.v1.AddOperatorRequest;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ForgetHostRequest;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's levers that write state files or sign (forget a host, drain, create a join token, add an
 * operator) run on a worker: while their stores are busy (here: each store's lock held, as a slow fsync holds it),
 * an agent's heartbeat on the same one-thread event loop is still answered.
 */
class FleetLeversOffTheEventLoopTest {
    @TempDir
    Path dir;

    /** Completes with the call's outcome: its reply, or its error. */
    private static <T> StreamObserver<T> into(CompletableFuture<Object> outcome) {
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {
                outcome.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                outcome.complete(t);
            }

            @Override
            public void onCompleted() {
            }
        };
    }

    @Test
    void heartbeatsAreAnsweredWhileTheLeversWaitForTheirStores() throws Exception {
        ControllerPki pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(30));
        JoinTokens tokens = new JoinTokens(dir.resolve("join-tokens"), Clock.systemUTC(), pki.ca().fingerprint());
        EnrolledHosts enrolled = new EnrolledHosts(dir.resolve("enrolled-hosts"));
        enrolled.enrolled("hv2", BigInteger.TEN);
        Drains drains = new Drains(dir.resolve("drained-hosts"));
        HostRegistry registry = new HostRegistry();
        Liveness liveness = new Liveness(Duration.ofMinutes(1), drains);
        ExecutorService work = Executors.newCachedThreadPool();
        Transport server = Transport.plaintextForTests("levers-test", 1); // one event loop: any block stops it all
        Transport client = Transport.plaintextForTests("levers-test-client", 1);
        Server grpc = server.startServer(new InetSocketAddress("127.0.0.1", 0), Runnable::run,
                List.of(new RegistryEndpoint(registry, enrolled, Duration.ofSeconds(1), Duration.ofMinutes(1), () -> "",
                        () -> 0), new FleetEndpoint(registry, liveness, new Enrollments(pki, tokens, enrolled,
                        RevokedOperators.open(dir.resolve("revoked-operators")), java.time.Clock.systemUTC()), null, null,
                        work)), List.of(new StatusMapping()), List.of(), false);
        ManagedChannel channel = client.channel(new Endpoint("127.0.0.1", grpc.getPort()), FleetIdentity.controller(),
                Runnable::run);
        CompletableFuture<Object> drained = new CompletableFuture<>();
        CompletableFuture<Object> token = new CompletableFuture<>();
        CompletableFuture<Object> forgot = new CompletableFuture<>();
        CompletableFuture<Object> operator = new CompletableFuture<>();
        try {
            RegistryGrpc.RegistryBlockingStub agent = RegistryGrpc.newBlockingStub(channel);
            HostReport report = HostReport.newBuilder().setHostName("hv1").build();
            String session = agent.register(RegisterRequest.newBuilder().setAgentId("a1").setAgentEndpoint("127.0.0.1:1")
                    .setReport(report).build()).getSessionId();
            FleetGrpc.FleetStub operatorSide = FleetGrpc.newStub(channel);
            synchronized (drains) {
                synchronized (tokens) {
                    synchronized (enrolled) {
                        operatorSide.setHostDraining(SetHostDrainingRequest.newBuilder().setName("hv1").setDraining(true)
                                .build(), into(drained));
                        operatorSide.createJoinToken(CreateJoinTokenRequest.newBuilder().setHostName("hv3").build(),
                                into(token));
                        operatorSide.forgetHost(ForgetHostRequest.newBuilder().setName("hv2").build(), into(forgot));
                        // Heartbeats are answered although every store those levers write is busy.
                        for (int i = 0; i < 3; i++) {
                            agent.withDeadlineAfter(30, TimeUnit.SECONDS).heartbeat(HeartbeatRequest.newBuilder()
                                    .setSessionId(session).setReport(report).build());
                        }
                        assertFalse(drained.isDone() || token.isDone() || forgot.isDone());
                    }
                }
            }
            operatorSide.addOperator(AddOperatorRequest.newBuilder().setName("alice").setRole("viewer")
                    .setCsrPem(Pem.of(Keys.signingRequest(Keys.generate(), "alice"))).build(), into(operator));
            assertTrue(drained.get(30, TimeUnit.SECONDS) instanceof io.virtfleet.proto.v1.Host, drained.get().toString());
            assertTrue(token.get(30, TimeUnit.SECONDS) instanceof io.virtfleet.proto.v1.JoinToken, token.get().toString());
            assertTrue(forgot.get(30, TimeUnit.SECONDS) instanceof io.virtfleet.proto.v1.ForgetHostResponse,
                    forgot.get().toString());
            assertTrue(operator.get(30, TimeUnit.SECONDS) instanceof io.virtfleet.proto.v1.CertificateResponse,
                    operator.get().toString());
            assertTrue(drains.isDrained("hv1"));
            assertFalse(enrolled.isEnrolled("hv2"));
            // Bad input is still answered with the field it names, from the worker.
            CompletableFuture<Object> bad = new CompletableFuture<>();
            operatorSide.createJoinToken(CreateJoinTokenRequest.newBuilder().setTtlSeconds(-1).build(), into(bad));
            io.grpc.StatusRuntimeException refused = (io.grpc.StatusRuntimeException) bad.get(30, TimeUnit.SECONDS);
            assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("ttl_seconds"), refused.getStatus().getDescription());
        } finally {
            channel.shutdownNow();
            grpc.shutdownNow();
            work.shutdownNow();
            client.close();
            server.close();
        }
    }
}
