package io.virtfleet.controller.testkit;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * The base of the interceptors that make an agent misbehave for a test (bound with {@code Agent.API_INTERCEPTORS}):
 * once a call's request has fully arrived, and before the agent carries it out, {@link #arrived} runs on the call's
 * thread and in its context. It may take its time (hang the host, crash the controller) and then let the call go
 * on, or end it with a status as a failing host would.
 */
public abstract class OnAgentCall implements ServerInterceptor {
    /**
     * A call of {@code fullMethodName} (e.g. {@code "virtfleet.v1.Agent/SetDomainRunning"}) whose request has fully
     * arrived; requests reach interceptors unread, as raw streams. Returns null to let the agent carry it out, or
     * the status to end it with instead.
     */
    protected abstract Status arrived(String fullMethodName);

    @Override
    public final <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                            ServerCallHandler<Q, A> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        ServerCall.Listener<Q> listener = next.startCall(call, headers);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onHalfClose() {
                Status instead = arrived(method);
                if (instead != null) {
                    call.close(instead, new Metadata());
                    return;
                }
                super.onHalfClose(); // a unary command starts here
            }
        };
    }
}
