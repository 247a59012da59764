package io.virtfleet.common.files;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Who hears whether state writes succeed: a daemon watches its data directory, so that its health follows its
 * storage (it should not say it serves while it cannot record what it does). {@link StateFiles} reports every write,
 * delete and force under a watched directory; a writer of its own (a journal it appends to) reports its failures with
 * {@link #failed}. A report is a list read and a call per watcher: nothing when no one watches.
 */
public final class WriteOutcomes {
    /** Hears outcomes of writes under its directory, on the writing thread: it must be quick and never block. */
    public interface Watcher {
        void succeeded(Path file);

        void failed(Path file, IOException e);
    }

    /** A watch in place until closed. */
    public interface Watch extends AutoCloseable {
        @Override
        void close();
    }

    private record Entry(Path root, Watcher watcher) {}

    private static final CopyOnWriteArrayList<Entry> WATCHES = new CopyOnWriteArrayList<>();

    private WriteOutcomes() {}

    /** {@code watcher} hears the outcome of every state write under {@code root} until the watch is closed. */
    public static Watch watch(Path root, Watcher watcher) {
        Entry e = new Entry(root.toAbsolutePath().normalize(), watcher);
        WATCHES.add(e);
        return () -> WATCHES.remove(e);
    }

    /** {@code file} was written (or deleted, or forced) and is on the disk. */
    static void succeeded(Path file) {
        if (WATCHES.isEmpty()) {
            return;
        }
        Path f = file.toAbsolutePath().normalize();
        for (Entry e : WATCHES) {
            if (f.startsWith(e.root())) {
                e.watcher().succeeded(f);
            }
        }
    }

    /** Writing {@code file} failed with {@code e}: what was to be recorded is not. */
    public static void failed(Path file, IOException e) {
        if (WATCHES.isEmpty()) {
            return;
        }
        Path f = file.toAbsolutePath().normalize();
        for (Entry w : WATCHES) {
            if (f.startsWith(w.root())) {
                w.watcher().failed(f, e);
            }
        }
    }
}
