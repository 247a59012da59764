package io.virtfleet.common.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.virtfleet.common.health.ServerHealth;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A gRPC server's calls as its metrics count them, over a real server on loopback: a call answered is counted once
 * with its status, and a server-streaming call the client cancels (a health Watch, which the server never ends by
 * itself) is counted as CANCELLED and timed, once.
 */
class GrpcServerMetricsTest {
    private static final String WATCH = HealthGrpc.getWatchMethod().getFullMethodName();
    private static final String CHECK = HealthGrpc.getCheckMethod().getFullMethodName();

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final GrpcServerMetrics metrics = new GrpcServerMetrics(registry, "test server");
    private final List<Server> servers = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private ManagedChannel channel;

    @BeforeEach
    void startServer() throws Exception {
        channel = serve(metrics);
    }

    /** A server of health and reflection behind {@code interceptor}, and a channel to it. */
    private ManagedChannel serve(GrpcServerMetrics interceptor) throws Exception {
        ServerHealth health = new ServerHealth(List.of("virtfleet.v1.Test"));
        health.serving(true);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0));
        for (BindableService s : health.services()) {
            builder.addService(ServerInterceptors.intercept(s, interceptor));
        }
        Server server = builder.build().start();
        servers.add(server);
        ManagedChannel c = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        channels.add(c);
        return c;
    }

    @AfterEach
    void stop() throws InterruptedException {
        for (ManagedChannel c : channels) {
            c.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        for (Server s : servers) {
            s.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aStreamTheClientCancelsIsCountedAsCancelledAndTimedOnce() throws Exception {
        CountDownLatch heard = new CountDownLatch(1);
        Context.CancellableContext watching = Context.current().withCancellation();
        watching.run(() -> HealthGrpc.newStub(channel).watch(HealthCheckRequest.getDefaultInstance(),
                new StreamObserver<HealthCheckResponse>() {
                    @Override
                    public void onNext(HealthCheckResponse r) {
                        heard.countDown();
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                }));
        assertTrue(heard.await(30, TimeUnit.SECONDS), "the watch stream answered");
        assertEquals(0, handled(WATCH, "CANCELLED") + handled(WATCH, "OK"), "an open stream is not counted yet");

        watching.cancel(null); // the client goes away: the server hears a cancel, and never sends a status
        until("the cancelled Watch counted and timed", () -> handled(WATCH, "CANCELLED") == 1 && timed(WATCH) == 1);

        // A call after it: counted with its own status, and the cancelled one still once.
        HealthGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
        until("the check counted and timed", () -> handled(CHECK, "OK") == 1 && timed(CHECK) == 1);
        assertEquals(1, handled(WATCH, "CANCELLED"));
        assertEquals(1, timed(WATCH));
    }

    @Test
    void callsThroughAnotherDoorAreCountedUnderTheirOwnTransport() throws Exception {
        ManagedChannel dashboard = serve(metrics.on("dashboard"));
        HealthGrpc.newBlockingStub(dashboard).withDeadlineAfter(30, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
        until("the check counted", () -> handled(CHECK, "OK", "dashboard") == 1);
        assertEquals(0, handled(CHECK, "OK"), "not as a call through the port");
    }

    private double handled(String method, String code) {
        return handled(method, code, GrpcServerMetrics.NETWORK);
    }

    private double handled(String method, String code, String transport) {
        for (MetricSnapshot m : registry.scrape()) {
            if (m instanceof CounterSnapshot c && m.getMetadata().getName().equals("virtfleet_grpc_server_handled")) {
                for (CounterSnapshot.CounterDataPointSnapshot p : c.getDataPoints()) {
                    if (p.getLabels().equals(Labels.of("code", code, "method", method, "transport", transport))) {
                        return p.getValue();
                    }
                }
            }
        }
        return 0;
    }

    private long timed(String method) {
        for (MetricSnapshot m : registry.scrape()) {
            if (m instanceof HistogramSnapshot h && m.getMetadata().getName().equals("virtfleet_grpc_server_handling_seconds")) {
                for (HistogramSnapshot.HistogramDataPointSnapshot p : h.getDataPoints()) {
                    if (p.getLabels().equals(Labels.of("method", method, "transport", "grpc"))) {
                        return p.getCount();
                    }
                }
            }
        }
        return 0;
    }

    /** Waits for {@code condition} (the server counts on its own threads), failing after 30 s. */
    private static void until(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for: " + what);
            Thread.sleep(10);
        }
    }
}
