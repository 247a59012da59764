package io.virtfleet.controller.testkit;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An interceptor of an agent's API that crashes the controller while the agent carries out a command: when the
 * armed method's request has fully arrived, it SIGKILLs the controller's JVM and waits until it is gone, then lets
 * the agent run the command as usual. So the step is done on the host and the controller never hears of it: the
 * crash the reconciler must recover from. Fires once per arming.
 */
public final class KillOnCall extends OnAgentCall {
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
    protected Status arrived(String method) {
        Armed a = armed.get();
        if (a != null && a.fullMethodName().equals(method) && armed.compareAndSet(a, null)) {
            fired.set(method); // first: the test may see the controller gone before kill() returns here
            a.controller().kill();
        }
        return null;
    }
}
