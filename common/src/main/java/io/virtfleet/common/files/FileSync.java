package io.virtfleet.common.files;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * How a file's bytes and a directory's entries reach the disk: {@link #DISK} forces them (fsync), which is what
 * every store of the controller and the agent needs. A test runs code under another one on its own thread
 * ({@link #during}) to see the calls in order, or to hold one back, without changing what the code writes.
 */
public interface FileSync {
    /** The content (and length) of {@code file}, open as {@code channel}, is on the disk when this returns. */
    void force(FileChannel channel, Path file) throws IOException;

    /** The entries of {@code directory} (a file created or renamed in it) are on the disk when this returns. */
    void forceDirectory(Path directory) throws IOException;

    FileSync DISK = new FileSync() {
        @Override
        public void force(FileChannel channel, Path file) throws IOException {
            channel.force(true);
        }

        @Override
        public void forceDirectory(Path directory) throws IOException {
            try (FileChannel dir = FileChannel.open(directory, StandardOpenOption.READ)) {
                dir.force(true);
            }
        }
    };

    /** The sync of the calling thread: {@link #DISK} unless a test chose another with {@link #during}. */
    static FileSync current() {
        FileSync chosen = Scope.CHOSEN.get();
        return chosen == null ? DISK : chosen;
    }

    /**
     * Makes {@code sync} the calling thread's until the returned scope is closed. Only this thread's writes use it:
     * the tests that need it call the store themselves.
     */
    static Scope during(FileSync sync) {
        return new Scope(Objects.requireNonNull(sync, "sync"));
    }

    /** A sync chosen for the calling thread; closing it restores the one before. */
    final class Scope implements AutoCloseable {
        private static final ThreadLocal<FileSync> CHOSEN = new ThreadLocal<>();
        private final FileSync before;

        private Scope(FileSync sync) {
            this.before = CHOSEN.get();
            CHOSEN.set(sync);
        }

        @Override
        public void close() {
            if (before == null) {
                CHOSEN.remove();
            } else {
                CHOSEN.set(before);
            }
        }
    }
}
