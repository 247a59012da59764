package io.virtfleet.common.transport;

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
 * INVALID_ARGUMENT with the field-naming message; a thrown status is sent as it is; anything else is logged with its stack trace and
 * becomes INTERNAL (instead of gRPC's bare UNKNOWN), so a bug is visible on both sides.
 */
public final class StatusMapping implements ServerInterceptor {
    private static final Logger log = LoggerFactory.getLogger(StatusMapping.class);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        ServerCall.Listener<Q> delegate = next.startCall(call, headers);
        return new SimpleForwardingServerCallListener<>(delegate) {
            @Override
            public void onMessage(Q message) {
                guard(call, () -> super.onMessage(message));
            }

            @Override
            public void onHalfClose() {
                guard(call, super::onHalfClose);
            }
        };
    }

    private static void guard(ServerCall<?, ?> call, Runnable step) {
        try {
            step.run();
        } catch (InvalidInputException e) {
            call.close(Status.INVALID_ARGUMENT.withDescription(e.getMessage()), new Metadata());
        } catch (StatusRuntimeException e) {
            call.close(e.getStatus(), new Metadata()); // a deliberate refusal, e.g. PERMISSION_DENIED
        } catch (RuntimeException e) {
            log.error("{} failed unexpectedly", call.getMethodDescriptor().getFullMethodName(), e);
            call.close(Status.INTERNAL.withDescription("internal error: " + e), new Metadata());
        }
    }
}
