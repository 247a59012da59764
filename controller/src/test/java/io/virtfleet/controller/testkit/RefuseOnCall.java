package io.virtfleet.controller.testkit;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An interceptor of an agent's API that fails calls as a host whose libvirtd is restarting would: once armed, the
 * next calls of one method end with UNAVAILABLE without being carried out.
 */
public final class RefuseOnCall extends OnAgentCall {
    private final String method;
    private final AtomicInteger toRefuse = new AtomicInteger();
    private final AtomicInteger refused = new AtomicInteger();

    public RefuseOnCall(MethodDescriptor<?, ?> method) {
        this.method = method.getFullMethodName();
    }

    /** The next {@code calls} calls of the method are refused. */
    public void refuseNext(int calls) {
        toRefuse.set(calls);
    }

    /** How many calls were refused so far. */
    public int refused() {
        return refused.get();
    }

    @Override
    protected Status arrived(String fullMethodName) {
        if (fullMethodName.equals(method) && toRefuse.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            refused.incrementAndGet();
            return Status.UNAVAILABLE.withDescription("refused by the test");
        }
        return null;
    }
}
