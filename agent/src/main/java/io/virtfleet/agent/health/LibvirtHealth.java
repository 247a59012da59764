package io.virtfleet.agent.health;

import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.common.health.ServerHealth;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the agent's grpc.health.v1 status on libvirt: SERVING while libvirt answers the agent's polls, NOT_SERVING
 * while the connection is lost, cannot be opened, or a call hangs past the poller's stall limit. An agent without
 * libvirt can do none of its commands, so a probe should see it as down even though its port answers. Reads the
 * poller's latest view (never a libvirt call) once per {@code every}, on a thread of its own.
 */
public final class LibvirtHealth implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LibvirtHealth.class);

    private final HypervisorPoller poller;
    private final ServerHealth health;
    private final Duration every;
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-agent-health");
        t.setDaemon(true);
        return t;
    });

    public LibvirtHealth(HypervisorPoller poller, ServerHealth health, Duration every) {
        this.poller = poller;
        this.health = health;
        this.every = every;
    }

    public LibvirtHealth start() {
        thread.scheduleWithFixedDelay(this::check, 0, every.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    /** Sets the status from the poller's latest view. */
    void check() {
        String error = poller.current().info().getError();
        boolean answering = error.isEmpty();
        if (answering != health.isServing()) {
            if (answering) {
                log.info("health: SERVING (libvirt answers)");
            } else {
                log.warn("health: NOT_SERVING ({})", error);
            }
        }
        health.serving(answering);
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
