package io.virtfleet.controller.registry;

import io.virtfleet.proto.v1.HostState;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs each host's state changes (ready, degraded, unreachable) as they happen, so the journal shows when
 * a hypervisor dropped out and came back. Liveness itself is computed on read; this only watches.
 */
public final class LivenessWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LivenessWatch.class);

    private final HostRegistry registry;
    private final Liveness liveness;
    private final Map<String, HostState> lastStates = new HashMap<>();
    private volatile BiConsumer<String, HostState> onChange = (h, s) -> { };
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-liveness");
        t.setDaemon(true);
        return t;
    });

    public LivenessWatch(HostRegistry registry, Liveness liveness) {
        this.registry = registry;
        this.liveness = liveness;
    }

    /** Tells {@code listener} of every state change the watch sees (host name, new state). */
    public void listen(BiConsumer<String, HostState> listener) {
        this.onChange = listener;
    }

    public void start() {
        long periodMs = Math.max(100, liveness.grace().toMillis() / 4);
        timer.scheduleWithFixedDelay(this::check, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    void check() {
        long now = registry.nanoTime();
        Map<String, HostState> seen = new HashMap<>();
        for (HostRecord host : registry.all()) {
            Liveness.Verdict verdict = liveness.judge(host, now);
            seen.put(host.name(), verdict.state());
            HostState before = lastStates.get(host.name());
            if (before != null && before != verdict.state()) {
                String state = HostStates.label(verdict.state());
                if (verdict.state() == HostState.HOST_STATE_READY) {
                    log.info("host {} is {} again (was {})", host.name(), state, HostStates.label(before));
                } else {
                    log.warn("host {} is {}: {}", host.name(), state, verdict.reason());
                }
                onChange.accept(host.name(), verdict.state());
            }
        }
        lastStates.clear();
        lastStates.putAll(seen);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
