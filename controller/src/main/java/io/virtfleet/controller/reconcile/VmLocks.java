package io.virtfleet.controller.reconcile;

import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One lock per VM name, held while an operator request or the reconciler works on that VM. A name's entry lives
 * exactly as long as someone holds or waits for its lock, and goes with the last of them. Dropping it earlier (as
 * the end of a delete once did, while a create of the same name waited for it) let the next comer lock a fresh
 * entry beside the one still held: two threads at work on one VM.
 */
public final class VmLocks {
    /** A lock and how many threads hold or wait for it; {@code users} changes only inside the map's compute. */
    private static final class Entry {
        final ReentrantLock lock = new ReentrantLock();
        int users;
    }

    private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();

    /** A VM's lock held by the thread that took it, until {@link #close()} (by that thread). */
    public final class Held implements AutoCloseable {
        private final String vm;
        private final Entry entry;
        private boolean closed;

        private Held(String vm, Entry entry) {
            this.vm = vm;
            this.entry = entry;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                entry.lock.unlock();
                release(vm, entry);
            }
        }
    }

    /** Takes the VM's lock, waiting for whoever holds it. */
    public Held lock(String vm) {
        Entry e = join(vm);
        try {
            e.lock.lock();
        } catch (RuntimeException | Error failure) {
            release(vm, e);
            throw failure;
        }
        return new Held(vm, e);
    }

    /** Takes the VM's lock if nobody holds it; empty if someone does. */
    public Optional<Held> tryLock(String vm) {
        Entry e = join(vm);
        if (e.lock.tryLock()) {
            return Optional.of(new Held(vm, e));
        }
        release(vm, e);
        return Optional.empty();
    }

    /** How many threads wait for the VM's lock now. */
    public int waiting(String vm) {
        Entry e = entries.get(vm);
        return e == null ? 0 : e.lock.getQueueLength();
    }

    /** How many names have an entry now (held or waited for). */
    public int size() {
        return entries.size();
    }

    private Entry join(String vm) {
        return entries.compute(vm, (name, e) -> {
            Entry out = e == null ? new Entry() : e;
            out.users++;
            return out;
        });
    }

    private void release(String vm, Entry entry) {
        entries.computeIfPresent(vm, (name, e) -> {
            if (e != entry) {
                return e;
            }
            e.users--;
            return e.users == 0 ? null : e;
        });
    }
}
