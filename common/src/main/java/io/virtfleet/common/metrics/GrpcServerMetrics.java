package io.virtfleet.common.metrics;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;

/**
 * Counts a gRPC server's calls by method and status code, and times them (from the call's start until its status
 * is sent; for a streaming call, the whole stream). The method label holds the full method name: one of the
 * services' fixed methods, so its cardinality is bounded by the API. Listed last among a server's interceptors (the
 * outermost), it sees every call, those the others refuse included.
 */
public final class GrpcServerMetrics implements ServerInterceptor {
    /** From a heartbeat (about a millisecond) to a long create or move stream (minutes). */
    static final double[] BOUNDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
        120, 300, 600};

    private final Counter handled;
    private final Histogram duration;

    /** Registers its metrics in {@code registry}; {@code who} (controller, agent) goes into their help text. */
    public GrpcServerMetrics(PrometheusRegistry registry, String who) {
        handled = Counter.builder().name("virtfleet_grpc_server_handled_total")
                .help("gRPC calls the " + who + " completed, by full method name and status code")
                .labelNames("method", "code").register(registry);
        duration = Histogram.builder().name("virtfleet_grpc_server_handling_seconds")
                .help("Time the " + who + " took to complete gRPC calls (streams: the whole stream), by method")
                .unit(Unit.SECONDS).labelNames("method").classicOnly().classicUpperBounds(BOUNDS).register(registry);
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                      ServerCallHandler<Q, A> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        long start = System.nanoTime();
        return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                handled.labelValues(method, status.getCode().name()).inc();
                duration.labelValues(method).observe(Unit.nanosToSeconds(System.nanoTime() - start));
                super.close(status, trailers);
            }
        }, headers);
    }
}
