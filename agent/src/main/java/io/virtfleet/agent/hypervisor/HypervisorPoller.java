package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.units.Durations;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.HypervisorInfo;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Asks libvirt for its view on a thread of its own, so a slow or hung libvirtd never delays a heartbeat:
 * the host then shows as degraded ("libvirt not answering"), not as unreachable. Keeps the last domain
 * list libvirt gave, marked stale while libvirt cannot be asked, because the domains usually still run.
 */
public final class HypervisorPoller implements AutoCloseable {
    /** libvirt's view as of the latest poll. */
    public record View(HypervisorInfo info, List<DomainInfo> domains, boolean domainsStale) {}

    private final LibvirtHypervisor hypervisor;
    private final Duration interval;
    private final Duration stallAfter;
    private final CountDownLatch firstPoll = new CountDownLatch(1);
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-libvirt-poll");
        t.setDaemon(true);
        return t;
    });

    private volatile View latest;
    private volatile List<DomainInfo> lastKnownDomains = List.of();
    /** System.nanoTime() when the poll in progress started, or -1 between polls. */
    private volatile long pollStartedAt = -1;
    /** Told after each poll whether libvirt answered, on the poll thread. */
    private volatile java.util.function.Consumer<Boolean> afterEachPoll = answered -> { };
    /** See {@link #timedBy}. */
    private volatile PollListener polls = (answered, nanos) -> { };

    public HypervisorPoller(LibvirtHypervisor hypervisor, Duration interval, Duration stallAfter) {
        this.hypervisor = hypervisor;
        this.interval = interval;
        this.stallAfter = stallAfter;
        this.latest = new View(HypervisorInfo.newBuilder().setUri(hypervisor.uri())
                .setError("libvirt at " + hypervisor.uri() + ": not asked yet").build(), List.of(), true);
    }

    /**
     * Also runs {@code then} after each poll, on the poll thread, told whether libvirt answered: for what is asked of
     * libvirt once in a while rather than at every poll (the host's CPU for guests).
     */
    public HypervisorPoller alsoAfterEachPoll(java.util.function.Consumer<Boolean> then) {
        this.afterEachPoll = then;
        return this;
    }

    /** What hears each poll's time and whether libvirt answered (metrics), on the poll thread. */
    public interface PollListener {
        void polled(boolean answered, long nanos);
    }

    /** Also tells {@code listener} how each poll went; it must be quick and must not throw. */
    public HypervisorPoller timedBy(PollListener listener) {
        this.polls = java.util.Objects.requireNonNull(listener, "listener");
        return this;
    }

    public HypervisorPoller start() {
        thread.scheduleWithFixedDelay(this::poll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    /** Waits (bounded) for the first answer, so a starting agent registers with real domains. */
    public void awaitFirstPoll() throws InterruptedException {
        firstPoll.await(stallAfter.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Asks libvirt again as soon as the poll thread is free, so a change the agent just made (a domain
     * defined, started) shows in the next heartbeat instead of one interval later. Never blocks.
     */
    public void pollSoon() {
        try {
            thread.execute(this::poll);
        } catch (RejectedExecutionException e) {
            // closed: the agent is stopping and will report nothing more
        }
    }

    /**
     * Asks libvirt again and waits (at most the stall limit) until that answer is the current view, so what is
     * reported next includes every change made before this call.
     */
    public void pollNow() throws InterruptedException {
        java.util.concurrent.Future<?> done;
        try {
            done = thread.submit(this::poll);
        } catch (RejectedExecutionException e) {
            return; // closed: nothing more will be reported
        }
        try {
            done.get(stallAfter.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            // libvirt slow or failing: the report says so by itself (stale domains); nothing better to wait for
        }
    }

    /**
     * Asks libvirt again; completes with true once that answer is the current view, with false after the stall limit
     * (the current view may then predate the call). Never blocks the caller.
     */
    public java.util.concurrent.CompletableFuture<Boolean> pollAsync() {
        try {
            return java.util.concurrent.CompletableFuture.runAsync(this::poll, thread).thenApply(polled -> true)
                    .completeOnTimeout(false, stallAfter.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            return java.util.concurrent.CompletableFuture.completedFuture(false); // closed: nothing newer will come
        }
    }

    /** The freshest view; never blocks on libvirt. */
    public View current() {
        long started = pollStartedAt;
        if (started >= 0) {
            Duration waiting = Duration.ofNanos(System.nanoTime() - started);
            if (waiting.compareTo(stallAfter) > 0) {
                String reason = "libvirt at " + hypervisor.uri() + ": no answer for " + Durations.shortText(waiting);
                return new View(HypervisorInfo.newBuilder().setUri(hypervisor.uri()).setError(reason).build(),
                        lastKnownDomains, true);
            }
        }
        return latest;
    }

    void poll() {
        long started = System.nanoTime();
        pollStartedAt = started;
        try {
            HypervisorSnapshot snapshot = hypervisor.snapshot();
            polls.polled(snapshot.healthy(), System.nanoTime() - started);
            if (snapshot.healthy()) {
                lastKnownDomains = snapshot.domains();
                latest = new View(snapshot.info(), snapshot.domains(), false);
            } else {
                latest = new View(snapshot.info(), lastKnownDomains, true);
            }
            try {
                afterEachPoll.accept(snapshot.healthy());
            } catch (RuntimeException e) {
                // must not end the polls: a scheduled task that throws is never run again
                org.slf4j.LoggerFactory.getLogger(HypervisorPoller.class).error("after a poll of libvirt", e);
            }
        } finally {
            pollStartedAt = -1;
            firstPoll.countDown();
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
