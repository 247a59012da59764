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
 *
 * <p>While the controller orders the host to stand down, the sync it starts is a stand-down
 * ({@link DefinitionsSync#standDown}), before anything else the host does after the answer, and again whenever the
 * repository moves (more VMs may have been given other homes meanwhile) or the last one did not complete.
 */
public final class CatchUp implements DefinitionsNews {
    static final Duration FIRST_RETRY = Duration.ofSeconds(5);
    static final Duration LAST_RETRY = Duration.ofSeconds(60);

    private final DefinitionsSync sync;
    private final StandDown standDown;
    private final LongSupplier nanoTime;
    private final Backoff backoff = new Backoff(FIRST_RETRY, LAST_RETRY);
    private long notBeforeNanos;
    private boolean waiting;
    private int started;

    public CatchUp(DefinitionsSync sync, StandDown standDown) {
        this(sync, standDown, System::nanoTime);
    }

    CatchUp(DefinitionsSync sync, LongSupplier nanoTime) {
        this(sync, StandDown.notOrdered(), nanoTime);
    }

    CatchUp(DefinitionsSync sync, StandDown standDown, LongSupplier nanoTime) {
        this.sync = sync;
        this.standDown = standDown;
        this.nanoTime = nanoTime;
        this.notBeforeNanos = nanoTime.getAsLong();
    }

    @Override
    public void registered(int gitPort, String commit, boolean standDownOrdered, boolean restoreHold) {
        standDown.told(standDownOrdered, restoreHold);
        sync.source().controllerServes(gitPort);
        consider(commit, standDownOrdered);
    }

    @Override
    public void heartbeat(String commit, boolean standDownOrdered, boolean restoreHold) {
        standDown.told(standDownOrdered, restoreHold);
        consider(commit, standDownOrdered);
    }

    private synchronized void consider(String commit, boolean standingDown) {
        if (standingDown && !sync.source().known()) {
            standDown.failed("no definitions repository to stand down against: the controller serves none and no"
                    + " definitions-remote is configured");
            return;
        }
        if (commit.isEmpty() || waiting || sync.busy() || !sync.source().known()) {
            return;
        }
        if (standingDown ? standDown.stoodDownAt(commit)
                : sync.completedSinceStart() && commit.equals(sync.status().syncedCommit())) {
            return;
        }
        if (nanoTime.getAsLong() - notBeforeNanos < 0) {
            return;
        }
        waiting = true;
        started++;
        // Syncs to the controller's commit at least: a mirror that lags behind it counts as a failure, retried later.
        String wanted = DefinitionsSync.checkCommit("desired_definitions_commit", commit);
        if (standingDown) {
            sync.standDown(wanted, event -> {}).whenComplete((status, failure) -> {
                boolean complete = failure == null && status.error().isEmpty();
                if (complete) {
                    standDown.completed(status.syncedCommit());
                } else {
                    standDown.failed(failure != null ? failure.getMessage() : status.error());
                }
                finished(complete);
            });
        } else {
            sync.run(wanted, event -> {}).whenComplete((status, failure) -> finished(failure == null && status.error().isEmpty()));
        }
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
