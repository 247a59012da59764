package io.virtfleet.agent.sync;

import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the controller tells this host to stand down, and how far the host got. The controller orders it while
 * it holds the host as lost (fenced): the host's Ceph-backed VMs may have been restarted on other hosts, and a QEMU
 * of this host that still runs one must not write to its disk again. The order is the controller's, never guessed
 * from the repository: a live move's target runs the VM before the record names it as home, so a host that destroyed
 * a running domain because the record names another home could kill the only running copy.
 *
 * <p>Until the controller has answered the agent once since it started, and while it orders a stand-down, the agent
 * starts no domain ({@link #refusesStarts}): a host coming back must not start a VM that runs elsewhere now. libvirt
 * never starts the domains virtfleet defined at boot (their libvirt autostart is off): the agent does, once starts are
 * allowed ({@link #onceStartsAllowed}). A domain libvirt started anyway (its flag set by hand, or by an agent of
 * before) is destroyed by the stand-down ({@link DefinitionsSync#standDown}) if its home moved.
 *
 * <p>While the controller holds after a restore from a backup ({@code restore_hold} in its answers), the agent starts
 * nothing either, and the once-per-boot starts wait for the hold's release: the restored records may be older than
 * what runs, and a VM they home here may run on another host now.
 */
public final class StandDown {
    private static final Logger log = LoggerFactory.getLogger(StandDown.class);

    /**
     * @param standingDown    whether the controller's latest answer orders a stand-down
     * @param stoodDownCommit the commit of the definitions the last complete stand-down was made against; empty when
     *                        none completed since the agent started
     * @param error           why the latest stand-down did not complete; empty when it did, or none is ordered
     */
    public record Status(boolean standingDown, String stoodDownCommit, String error) {}

    private boolean answered;
    private boolean ordered;
    private boolean held;
    private String stoodDownCommit = "";
    private String error = "";
    private Runnable whenOpened;

    /** Before the controller has answered: no domain may be started. */
    public StandDown() {}

    /** A host whose controller has answered and orders nothing: for tests of other features and tools. */
    public static StandDown notOrdered() {
        StandDown s = new StandDown();
        s.answered = true;
        return s;
    }

    /** What the controller answered to a Register or Heartbeat, from a controller that does not hold. */
    public void told(boolean standDown) {
        told(standDown, false);
    }

    /**
     * What the controller answered to a Register or Heartbeat.
     *
     * @param restoreHold whether the controller holds after a restore: nothing is started until it no longer does
     */
    public void told(boolean standDown, boolean restoreHold) {
        Runnable opened;
        synchronized (this) {
            answered = true;
            if (restoreHold && !held) {
                log.warn("the controller holds after a restore from a backup: starting nothing (not even the domains"
                        + " that start with the host) until an admin releases the hold");
            } else if (!restoreHold && held) {
                log.info("the controller no longer holds after a restore: domains may be started again");
            }
            held = restoreHold;
            if (standDown && !ordered) {
                log.warn("the controller holds this host as lost: standing down (destroying the domains whose home"
                        + " moved, starting nothing) until it is unfenced");
            } else if (!standDown && ordered) {
                log.info("the controller no longer orders this host to stand down: domains may be started again");
                error = "";
            }
            ordered = standDown;
            opened = firstOpening();
        }
        if (opened != null) {
            opened.run(); // outside the lock: it may take its time
        }
    }

    /**
     * Runs {@code then} once, the first time starts are allowed ({@link #refusesStarts} empty; at once if they are
     * now), on the thread that tells it: the agent's autostart, which must wait for the stand-down's verdict.
     */
    public void onceStartsAllowed(Runnable then) {
        Runnable opened;
        synchronized (this) {
            whenOpened = then;
            opened = firstOpening();
        }
        if (opened != null) {
            opened.run();
        }
    }

    private Runnable firstOpening() {
        if (whenOpened == null || !answered || ordered || held) {
            return null;
        }
        Runnable then = whenOpened;
        whenOpened = null;
        return then;
    }

    public synchronized boolean ordered() {
        return ordered;
    }

    /** Whether the controller's latest answer says it holds after a restore. */
    public synchronized boolean restoreHold() {
        return held;
    }

    /** Whether a stand-down against {@code commit} has completed (nothing needs doing until the repository moves). */
    synchronized boolean stoodDownAt(String commit) {
        return !commit.isEmpty() && commit.equals(stoodDownCommit);
    }

    synchronized void completed(String commit) {
        if (!commit.equals(stoodDownCommit)) {
            log.info("stood down against definitions commit {}: no domain whose home moved runs here", commit);
        }
        stoodDownCommit = commit;
        error = "";
    }

    synchronized void failed(String why) {
        error = why;
    }

    public synchronized Status status() {
        return new Status(ordered, stoodDownCommit, ordered ? error : "");
    }

    /** Why no domain may be started now; empty when one may. */
    public synchronized Optional<String> refusesStarts() {
        if (!answered) {
            return Optional.of("the controller has not answered this agent since it started: a host coming back may have"
                    + " to stand down first, so it starts nothing before");
        }
        if (held) {
            return Optional.of("the controller holds after a restore from a backup (its records may be older than what"
                    + " runs): this host starts nothing until an admin releases the hold");
        }
        if (ordered) {
            return Optional.of("this host is standing down: the controller holds it as lost (fenced) and its VMs may"
                    + " run elsewhere; it starts nothing until it is unfenced");
        }
        return Optional.empty();
    }
}
