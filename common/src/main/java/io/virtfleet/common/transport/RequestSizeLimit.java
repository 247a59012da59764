package io.virtfleet.common.transport;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * A request-size cap per method, far below the transport's, for methods anyone may call (enrollment): a
 * request over its cap is answered RESOURCE_EXHAUSTED before it is parsed or queued. Needs the unparsed
 * requests {@link Transport} hands its interceptors; at most cap + 1 bytes of a request are read here.
 */
public final class RequestSizeLimit implements ServerInterceptor {
    private final Map<String, Integer> maxBytes;

    /** @param maxBytes full method name to the most bytes one of its requests may have */
    public RequestSizeLimit(Map<String, Integer> maxBytes) {
        this.maxBytes = Map.copyOf(maxBytes);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        Integer cap = maxBytes.get(call.getMethodDescriptor().getFullMethodName());
        ServerCall.Listener<Q> delegate = next.startCall(call, headers);
        if (cap == null) {
            return delegate;
        }
        return new SimpleForwardingServerCallListener<>(delegate) {
            private boolean refused;

            @Override
            @SuppressWarnings("unchecked")
            public void onMessage(Q message) {
                if (refused) {
                    return;
                }
                if (!(message instanceof InputStream stream)) {
                    throw new IllegalStateException("RequestSizeLimit needs unparsed requests (see Transport)");
                }
                byte[] head;
                try {
                    head = stream.readNBytes(cap + 1);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                if (head.length > cap) {
                    refused = true;
                    call.close(Status.RESOURCE_EXHAUSTED.withDescription("request of more than " + cap + " bytes; "
                            + call.getMethodDescriptor().getFullMethodName() + " accepts at most " + cap), new Metadata());
                    return;
                }
                super.onMessage((Q) new ByteArrayInputStream(head));
            }

            @Override
            public void onHalfClose() {
                if (!refused) {
                    super.onHalfClose();
                }
            }
        };
    }
}
