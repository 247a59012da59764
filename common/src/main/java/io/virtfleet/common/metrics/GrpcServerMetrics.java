package io.virtfleet.common.metrics;

import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Counts a gRPC server's calls by method and status code, and times them (from the call's start until its status
 * is sent; for a streaming call, the whole stream). A call that ends without a status sent (the client cancelled
 * it, its deadline passed, its connection broke) is counted once as {@code CANCELLED} when gRPC tells the server so:
 * those are the calls an operator looks for (a Watch stream ended, a CLI interrupted during a move). The method label
 * holds the full method name: one of the
 * services' fixed methods, so its cardinality is bounded by the API. The transport label says which door the call
 * came through: {@value #NETWORK} (the gRPC port) or another the owner names with {@link #on} (the controller's web
 * dashboard calls its Fleet service in-process, as {@code dashboard}). Listed last among a server's interceptors (the
 * outermost), it sees every call, those the others refuse included.
 */
public final class GrpcServerMetrics implements ServerInterceptor {
    /** From a heartbeat (about a millisecond) to a long create or move stream (minutes). */
    static final double[] BOUNDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
        120, 300, 600};

    /** The transport of calls that came over the network, through the server's port. */
    public static final String NETWORK = "grpc";

    private final Counter handled;
    private final Histogram duration;
    private final String transport;

    /**
     * Registers its metrics in {@code registry}; {@code who} (controller, agent) goes into their help text. This
     * interceptor counts calls as {@value #NETWORK}.
     */
    public GrpcServerMetrics(PrometheusRegistry registry, String who) {
        this(Counter.builder().name("virtfleet_grpc_server_handled_total")
                        .help("gRPC calls the " + who + " completed, by full method name, status code and transport"
                                + " (grpc: its port; dashboard: the web dashboard's in-process calls)")
                        .labelNames("method", "code", "transport").register(registry),
                Histogram.builder().name("virtfleet_grpc_server_handling_seconds")
                        .help("Time the " + who + " took to complete gRPC calls (streams: the whole stream), by method"
                                + " and transport")
                        .unit(Unit.SECONDS).labelNames("method", "transport").classicOnly().classicUpperBounds(BOUNDS)
                        .register(registry),
                NETWORK);
    }

    private GrpcServerMetrics(Counter handled, Histogram duration, String transport) {
        this.handled = handled;
        this.duration = duration;
        this.transport = transport;
    }

    /** An interceptor counting into the same metrics, for calls that come through {@code otherTransport}. */
    public GrpcServerMetrics on(String otherTransport) {
        return new GrpcServerMetrics(handled, duration, otherTransport);
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                      ServerCallHandler<Q, A> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        long start = System.nanoTime();
        AtomicBoolean counted = new AtomicBoolean(); // a status sent, or a cancel heard: whichever comes first counts
        ServerCall.Listener<Q> listener = next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                count(counted, method, status.getCode(), start);
                super.close(status, trailers);
            }
        }, headers);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onCancel() {
                count(counted, method, Status.Code.CANCELLED, start);
                super.onCancel();
            }
        };
    }

    private void count(AtomicBoolean counted, String method, Status.Code code, long start) {
        if (counted.compareAndSet(false, true)) {
            handled.labelValues(method, code.name(), transport).inc();
            duration.labelValues(method, transport).observe(Unit.nanosToSeconds(System.nanoTime() - start));
        }
    }
}
