package io.virtfleet.agent.retry;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Capped exponential backoff with jitter. Jitter matters: after a controller restart every agent
 * retries, and without it they would all arrive in the same instant.
 */
public final class Backoff {
    private final long initialMs;
    private final long maxMs;
    private long currentMs;

    public Backoff(Duration initial, Duration max) {
        this.initialMs = Math.max(1, initial.toMillis());
        this.maxMs = Math.max(initialMs, max.toMillis());
        this.currentMs = initialMs;
    }

    /** The next delay: the current step ±20 %, then the step doubles up to the cap. */
    public Duration next() {
        long base = currentMs;
        currentMs = Math.min(maxMs, currentMs * 2);
        long jitter = (long) (base * 0.2 * (ThreadLocalRandom.current().nextDouble() * 2 - 1));
        return Duration.ofMillis(Math.max(1, base + jitter));
    }

    public void reset() {
        currentMs = initialMs;
    }
}
