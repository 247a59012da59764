package io.virtfleet.agent.sync;

import io.virtfleet.agent.registration.DefinitionsNews;
import io.virtfleet.agent.retry.Backoff;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Syncs by itself when the controller names a commit of the definitions this host has not synced to: how a host
 * that was away (or missed a SyncDefinitions) catches up without an operator. Also syncs once after the agent
 * starts, whatever the commits say: libvirt may have changed while the agent was down, and that sync is cheap
 * when nothing did. A background sync is started only when none is running or waiting; after one that failed the
 * next waits {@link #FIRST_RETRY}, growing to {@link #LAST_RETRY} on repeated failures (a SyncDefinitions request
 * is never held back by this).
 */
public final class CatchUp implements DefinitionsNews {
    static final Duration FIRST_RETRY = Duration.ofSeconds(5);
    static final Duration LAST_RETRY = Duration.ofSeconds(60);

    private final DefinitionsSync sync;
    private final LongSupplier nanoTime;
    private final Backoff backoff = new Backoff(FIRST_RETRY, LAST_RETRY);
    private long notBeforeNanos;
    private boolean waiting;
    private int started;

    public CatchUp(DefinitionsSync sync) {
        this(sync, System::nanoTime);
    }

    CatchUp(DefinitionsSync sync, LongSupplier nanoTime) {
        this.sync = sync;
        this.nanoTime = nanoTime;
        this.notBeforeNanos = nanoTime.getAsLong();
    }

    @Override
    public void registered(int gitPort, String commit) {
        sync.source().controllerServes(gitPort);
        consider(commit);
    }

    @Override
    public void heartbeat(String commit) {
        consider(commit);
    }

    private synchronized void consider(String commit) {
        if (commit.isEmpty() || waiting || sync.busy() || !sync.source().known()) {
            return;
        }
        if (sync.completedSinceStart() && commit.equals(sync.status().syncedCommit())) {
            return;
        }
        if (nanoTime.getAsLong() - notBeforeNanos < 0) {
            return;
        }
        waiting = true;
        started++;
        // Syncs to the controller's commit at least: a mirror that lags behind it counts as a failure, retried later.
        sync.run(DefinitionsSync.checkCommit("desired_definitions_commit", commit), event -> {})
                .whenComplete((status, failure) -> finished(failure == null && status.error().isEmpty()));
    }

    /** How many syncs this has started: the decision is made within the call that brings the commit. */
    synchronized int syncsStarted() {
        return started;
    }

    private synchronized void finished(boolean complete) {
        waiting = false;
        if (complete) {
            backoff.reset();
            notBeforeNanos = nanoTime.getAsLong();
        } else {
            Duration wait = backoff.next();
            if (wait.compareTo(FIRST_RETRY) < 0) {
                wait = FIRST_RETRY;
            }
            notBeforeNanos = nanoTime.getAsLong() + wait.toNanos();
        }
    }
}
