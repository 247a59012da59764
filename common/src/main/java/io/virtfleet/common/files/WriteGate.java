package io.virtfleet.common.files;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The process's write barrier on its state files. Every write of state ({@link StateFiles}, a journal's append, a
 * commit of the definitions repository) passes through the gate; a backup closes it for the short time it copies the
 * state, so the copy holds every write made before and none made after: what a power loss at that instant would
 * have left on the disk, which the controller is built to recover from.
 *
 * <p>Many writers pass at once; closing waits until those inside are out, and lets no new one in until it is open
 * again. A writer that is already inside may pass again (nesting), so a commit that writes through {@link StateFiles}
 * does not wait for itself. Writers block while it is closed: none may pass on a gRPC event loop, which is already
 * the rule for any file write.
 *
 * <p>The gate is one for the whole JVM (a static lock), not one per data directory: where several controllers or
 * agents share a JVM (EmbeddedFleet, tests with two controllers), one backup holds every one of their state writes
 * while it copies.
 */
public final class WriteGate {
    private static final ReentrantReadWriteLock LOCK = new ReentrantReadWriteLock();

    private WriteGate() {}

    /** A pass through the gate: held while writing, closed (in try-with-resources) when done. */
    public interface Pass extends AutoCloseable {
        @Override
        void close();
    }

    /** Waits until the gate is open, and keeps it from closing until the pass is closed. */
    public static Pass enter() {
        LOCK.readLock().lock();
        return LOCK.readLock()::unlock;
    }

    /**
     * Closes the gate once every writer inside is out, waiting at most {@code patience}. Until the returned pass is
     * closed no write of state gets through, in this thread or any other, except by the closer itself.
     *
     * @throws GateBusyException writers stayed inside for all of {@code patience}; the gate is open again
     */
    public static Pass close(Duration patience) throws InterruptedException, GateBusyException {
        if (!LOCK.writeLock().tryLock(patience.toNanos(), TimeUnit.NANOSECONDS)) {
            throw new GateBusyException("state writes were still under way after " + patience.toMillis() + " ms");
        }
        return LOCK.writeLock()::unlock;
    }

    /** Whether some thread holds the gate closed now (for tests and diagnostics). */
    public static boolean closed() {
        return LOCK.isWriteLocked();
    }

    /** How many threads wait to pass or to close the gate now (for tests and diagnostics). */
    public static int waiting() {
        return LOCK.getQueueLength();
    }

    /** The gate could not be closed in time. */
    public static final class GateBusyException extends Exception {
        public GateBusyException(String message) {
            super(message);
        }
    }
}
