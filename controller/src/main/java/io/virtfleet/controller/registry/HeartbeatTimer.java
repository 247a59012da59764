package io.virtfleet.controller.registry;

import io.grpc.Metadata;
import io.grpc.ServerStreamTracer;
import io.grpc.Status;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.util.function.LongSupplier;

/**
 * Times how long the server takes to handle each {@code Registry/Heartbeat} call: from the moment the call's
 * headers arrive on the transport's event loop until its stream closes, i.e. the response and status have been
 * written out. Queueing for an executor thread, decoding, the registry update and encoding all count; the
 * network does not. Failed calls count too. Install it as a stream tracer on the server that serves the
 * registry; other calls cost one string comparison.
 */
public final class HeartbeatTimer extends ServerStreamTracer.Factory {
    private static final String HEARTBEAT = RegistryGrpc.getHeartbeatMethod().getFullMethodName();
    private static final ServerStreamTracer UNTIMED = new ServerStreamTracer() {};

    private final LatencyHistogram histogram = new LatencyHistogram();
    private final LongSupplier nanoTime;
    private volatile java.util.function.LongConsumer also = nanos -> {};

    public HeartbeatTimer() {
        this(System::nanoTime);
    }

    HeartbeatTimer(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** Also hands each handling time, in nanoseconds, to {@code listener} (metrics): called on the event loop. */
    public void alsoTo(java.util.function.LongConsumer listener) {
        this.also = java.util.Objects.requireNonNull(listener, "listener");
    }

    /** The handling times recorded so far. */
    public LatencyHistogram histogram() {
        return histogram;
    }

    @Override
    public ServerStreamTracer newServerStreamTracer(String fullMethodName, Metadata headers) {
        if (!HEARTBEAT.equals(fullMethodName)) {
            return UNTIMED;
        }
        long start = nanoTime.getAsLong();
        return new ServerStreamTracer() {
            @Override
            public void streamClosed(Status status) {
                long took = nanoTime.getAsLong() - start;
                histogram.record(took);
                also.accept(took);
            }
        };
    }
}
