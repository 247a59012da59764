package io.virtfleet.controller.testkit;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An interceptor of an agent's API (bound with {@code Agent.API_INTERCEPTORS}) that crashes the controller while
 * the agent carries out a command: when the armed method's request has fully arrived, it SIGKILLs the
 * controller's JVM and waits until it is gone, then lets the agent run the command as usual. So the step is done
 * on the host and the controller never hears of it: the crash the reconciler must recover from. Fires once per
 * arming.
 */
public final class KillOnCall implements ServerInterceptor {
    private record Armed(String fullMethodName, ControllerJvm controller) {}

    private final AtomicReference<Armed> armed = new AtomicReference<>();
    private final AtomicReference<String> fired = new AtomicReference<>();

    /** The next call of {@code method} (e.g. {@code AgentGrpc.getEnsureDiskMethod()}) kills {@code controller}. */
    public void arm(MethodDescriptor<?, ?> method, ControllerJvm controller) {
        fired.set(null);
        armed.set(new Armed(method.getFullMethodName(), controller));
    }

    public void disarm() {
        armed.set(null);
    }

    /** The method whose call killed the controller since the last arming; null if none has. */
    public String fired() {
        return fired.get();
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                      ServerCallHandler<Q, A> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        ServerCall.Listener<Q> listener = next.startCall(call, headers);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onHalfClose() {
                Armed a = armed.get();
                if (a != null && a.fullMethodName().equals(method) && armed.compareAndSet(a, null)) {
                    fired.set(method); // first: the test may see the controller gone before kill() returns here
                    a.controller().kill();
                }
                super.onHalfClose(); // a unary command starts here
            }
        };
    }
}
