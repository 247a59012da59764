package io.virtfleet.agent.retry;

import java.time.Duration;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * Logs a repeating failure once when it starts, then at most once per period with how long it has
 * lasted, and once when it ends: enough to see an outage in the journal without flooding it.
 */
public final class FailureLog {
    private final Logger log;
    private final long periodNanos;
    private final LongSupplier nanoTime;
    private long failingSince = -1;
    private long lastLoggedAt;
    private long attempts;
    private String lastMessage = "";

    public FailureLog(Logger log, Duration period) {
        this(log, period, System::nanoTime);
    }

    /** With the clock to measure the period by ({@link System#nanoTime} but in tests). */
    FailureLog(Logger log, Duration period, LongSupplier nanoTime) {
        this.log = log;
        this.periodNanos = period.toNanos();
        this.nanoTime = nanoTime;
    }

    public synchronized void failed(String message, Throwable cause) {
        long now = nanoTime.getAsLong();
        attempts++;
        if (failingSince < 0) {
            failingSince = now;
            lastLoggedAt = now;
            lastMessage = message;
            if (cause != null) {
                log.warn("{} (retrying)", message, cause);
            } else {
                log.warn("{} (retrying)", message);
            }
            return;
        }
        if (now - lastLoggedAt >= periodNanos || !message.equals(lastMessage)) {
            lastLoggedAt = now;
            lastMessage = message;
            log.warn("{} (failing for {} s, {} attempts; still retrying)",
                    message, (now - failingSince) / 1_000_000_000L, attempts);
        }
    }

    public synchronized void recovered(String message) {
        if (failingSince >= 0) {
            log.info("{} after {} s", message, (nanoTime.getAsLong() - failingSince) / 1_000_000_000L);
            failingSince = -1;
            attempts = 0;
            lastMessage = "";
        }
    }
}
