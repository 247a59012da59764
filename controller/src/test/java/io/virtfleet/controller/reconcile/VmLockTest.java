package io.virtfleet.controller.reconcile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/** The per-VM lock of operator requests and reconciler passes, with a create and a delete of one name racing. */
class VmLockTest {
    /** Locks and forget need none of the reconciler's collaborators. */
    private final Reconciler reconciler = new Reconciler(null, null, null, null, null, Duration.ofHours(1));

    @Test
    void aDeleteThatForgetsTheVmWhileACreateWaitsKeepsTheCreateAlone() throws Exception {
        VmLocks.Held deleting = reconciler.lock("web");
        CountDownLatch createInside = new CountDownLatch(1);
        CountDownLatch createLeaves = new CountDownLatch(1);
        Thread create = new Thread(() -> {
            try (VmLocks.Held h = reconciler.lock("web")) {
                createInside.countDown();
                createLeaves.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        create.start();
        while (reconciler.locks().waiting("web") == 0) {
            Thread.onSpinWait(); // until the create waits for the delete's lock
        }
        // The delete's last steps, as VmService.delete runs them: forget the VM, then release its lock.
        reconciler.forget("web");
        deleting.close();
        createInside.await();

        Optional<VmLocks.Held> pass = reconciler.locks().tryLock("web");
        pass.ifPresent(VmLocks.Held::close);
        createLeaves.countDown();
        create.join();
        assertTrue(pass.isEmpty(), "a reconciler pass locked web while the create held it");
        assertEquals(0, reconciler.locks().size(), "nothing is kept of a name nobody holds or waits for");
    }

    @Test
    void aLockHeldTwiceByOneThreadIsFreeOnlyWhenBothAreClosed() throws Exception {
        VmLocks locks = new VmLocks();
        VmLocks.Held outer = locks.lock("db");
        VmLocks.Held inner = locks.lock("db");
        inner.close();
        inner.close(); // closing twice releases once
        assertTrue(otherThreadTries(locks, "db").isEmpty(), "still held by the outer request");
        outer.close();
        Optional<VmLocks.Held> got = otherThreadTries(locks, "db");
        assertTrue(got.isPresent());
        assertEquals(0, locks.size());
    }

    private static Optional<VmLocks.Held> otherThreadTries(VmLocks locks, String vm) throws InterruptedException {
        Optional<VmLocks.Held>[] out = new Optional[1];
        Thread t = new Thread(() -> {
            out[0] = locks.tryLock(vm);
            out[0].ifPresent(VmLocks.Held::close);
        });
        t.start();
        t.join();
        return out[0];
    }
}
