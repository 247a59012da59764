package io.virtfleet.common.transport;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.InvalidInputException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns exceptions escaping a service method into statuses a client can act on: rejected input becomes
 * INVALID_ARGUMENT with the field-naming message, and so does a request that does not parse (when the
 * server parses requests inside the call, as {@link Transport} has it); a thrown status is sent as it is;
 * anything else is logged with its stack trace and becomes INTERNAL (instead of gRPC's bare UNKNOWN), so
 * a bug is visible on both sides.
 */
public final class StatusMapping implements ServerInterceptor {
    private static final Logger log = LoggerFactory.getLogger(StatusMapping.class);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        ServerCall.Listener<Q> delegate = next.startCall(call, headers);
        return new SimpleForwardingServerCallListener<>(delegate) {
            /** Set once this closed the call: what the client sends after that is not handled. */
            private boolean closed;

            @Override
            public void onMessage(Q message) {
                if (!closed) {
                    closed = !guard(call, () -> super.onMessage(message));
                }
            }

            @Override
            public void onHalfClose() {
                if (!closed) {
                    closed = !guard(call, super::onHalfClose);
                }
            }
        };
    }

    /** Runs one step of the call; if it throws, closes the call with the matching status and returns false. */
    private static boolean guard(ServerCall<?, ?> call, Runnable step) {
        try {
            step.run();
            return true;
        } catch (InvalidInputException e) {
            call.close(Status.INVALID_ARGUMENT.withDescription(e.getMessage()), new Metadata());
        } catch (StatusRuntimeException e) {
            if (e.getCause() instanceof InvalidProtocolBufferException malformed) {
                // The request is not the method's message (gRPC's protobuf marshaller calls that INTERNAL).
                call.close(Status.INVALID_ARGUMENT.withDescription("malformed request: " + malformed.getMessage()),
                        new Metadata());
            } else {
                call.close(e.getStatus(), new Metadata()); // a deliberate refusal, e.g. PERMISSION_DENIED
            }
        } catch (RuntimeException e) {
            log.error("{} failed unexpectedly", call.getMethodDescriptor().getFullMethodName(), e);
            call.close(Status.INTERNAL.withDescription("internal error: " + e), new Metadata());
        }
        return false;
    }
}
