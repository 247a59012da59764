package io.virtfleet.agent.hypervisor;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.libvirt.LibvirtException;

/**
 * Whether a migration's target libvirtd still answers, asked one cheap question at a time (its libvirt version) on a
 * thread of its own, so that a hung target never holds up the migration's ticker. libvirt itself does not notice a
 * target that died during the copy: QEMU's stream runs on to the end (minutes for a slowed or large VM) and only
 * libvirt's last step fails. Not thread-safe: one ticker asks {@link #check}.
 */
final class TargetProbe implements AutoCloseable {
    /** How long one last question may wait for its answer ({@link #answersNow}). */
    private static final long LAST_QUESTION_SECONDS = 5;

    private final MigrationConnection target;
    private final long silenceNanos;
    private final LongSupplier nanoClock;
    private final ExecutorService asker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vf-migration-probe");
        t.setDaemon(true);
        return t;
    });
    private Future<?> question;
    private long askedAt;

    /** @param silenceNanos how long a question may stay unanswered before the target counts as lost */
    TargetProbe(MigrationConnection target, long silenceNanos, LongSupplier nanoClock) {
        this.target = target;
        this.silenceNanos = silenceNanos;
        this.nanoClock = nanoClock;
    }

    /**
     * Looks at the last question's answer and asks the next: null while the target answers (or has not had the time
     * to), else why it counts as lost.
     */
    String check() {
        long now = nanoClock.getAsLong();
        if (question != null && !question.isDone()) {
            return now - askedAt > silenceNanos ? "did not answer for " + TimeUnit.NANOSECONDS.toSeconds(silenceNanos)
                    + " s" : null;
        }
        if (question != null) {
            try {
                question.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                return "stopped answering (" + (cause instanceof LibvirtException le ? LibvirtErrors.message(le) : cause)
                        + ")";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        askedAt = now;
        try {
            question = asker.submit(() -> {
                target.getLibVersion(); // a call to the target's libvirtd, not answered locally
                return null;
            });
        } catch (RejectedExecutionException e) {
            // closed: the migration is ending
        }
        return null;
    }

    /** One last question, bounded: a hung libvirtd counts as not answering. */
    static boolean answersNow(MigrationConnection target) {
        CompletableFuture<Boolean> answer = CompletableFuture.supplyAsync(() -> {
            try {
                target.getLibVersion();
                return true;
            } catch (LibvirtException e) {
                return false;
            }
        }, work -> { // a thread of its own: a hung libvirtd may keep it, never a shared pool's
            Thread t = new Thread(work, "vf-migration-probe");
            t.setDaemon(true);
            t.start();
        });
        try {
            return answer.get(LAST_QUESTION_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void close() {
        asker.shutdownNow();
    }
}
