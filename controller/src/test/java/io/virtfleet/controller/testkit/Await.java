package io.virtfleet.controller.testkit;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Waiting for a condition a fleet reaches by itself, e.g. from its hosts' next reports. */
public final class Await {
    private Await() {}

    /** Polls {@code condition} every 20 ms; fails naming {@code what} once {@code limit} has passed without it. */
    public static void until(String what, Duration limit, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not reached within " + limit + ": " + what);
            }
            Thread.sleep(20);
        }
    }
}
