package io.virtfleet.controller.testkit;

import io.grpc.Context;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * An interceptor of an agent's API that makes the host hang: while armed, every call of the given methods blocks
 * once its request has arrived, until the test releases them. It notes each hung call whose caller gave up (its
 * deadline passed, or it cancelled), so a test can tell whether something happened while the caller was still
 * waiting.
 */
public final class HangOnCall extends OnAgentCall {
    private final Set<String> methods;
    private volatile CountDownLatch gate;
    private final AtomicInteger hanging = new AtomicInteger();
    private final List<String> abandoned = new CopyOnWriteArrayList<>();

    public HangOnCall(List<MethodDescriptor<?, ?>> methods) {
        this.methods = methods.stream().map(MethodDescriptor::getFullMethodName).collect(Collectors.toUnmodifiableSet());
    }

    /** From now on, calls of the methods hang. */
    public void arm() {
        gate = new CountDownLatch(1);
    }

    /** Lets every hanging call go on, and later ones pass. */
    public void release() {
        CountDownLatch g = gate;
        gate = null;
        if (g != null) {
            g.countDown();
        }
    }

    /** How many calls hang now. */
    public int hanging() {
        return hanging.get();
    }

    /** The methods of hung calls whose callers gave up waiting, in order. */
    public List<String> abandoned() {
        return List.copyOf(abandoned);
    }

    @Override
    protected Status arrived(String method) {
        CountDownLatch g = gate;
        if (g != null && methods.contains(method)) {
            // The call's context is cancelled when its caller's deadline passes, even while this blocks.
            Context.current().addListener(c -> abandoned.add(method), Runnable::run);
            hanging.incrementAndGet();
            try {
                g.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                hanging.decrementAndGet();
            }
        }
        return null;
    }
}
