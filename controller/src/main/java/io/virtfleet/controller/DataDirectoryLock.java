package io.virtfleet.controller;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * The one controller process that owns a data directory: an exclusive lock on {@code <data-dir>/controller.lock},
 * held by the running controller for its whole life and released by the kernel when the process ends, however it
 * ends. A second controller on the same directory, or a restore into it, finds the lock taken and stops instead of
 * writing state under a running controller's feet (whose open journals would keep writing into the old files).
 */
public final class DataDirectoryLock implements AutoCloseable {
    /** The lock's file name in the data directory; it holds nothing, only its lock matters. */
    public static final String FILE_NAME = "controller.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private DataDirectoryLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Takes the lock, making the directory if needed; empty when another process (or this one) holds it. */
    public static Optional<DataDirectoryLock> tryTake(Path dataDir) throws IOException {
        StateFiles.createDirectories(dataDir);
        FileChannel channel = FileChannel.open(dataDir.resolve(FILE_NAME), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            FileLock lock = channel.tryLock();
            if (lock == null) {
                channel.close();
                return Optional.empty();
            }
            return Optional.of(new DataDirectoryLock(channel, lock));
        } catch (OverlappingFileLockException e) {
            channel.close();
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Whether a running controller holds the lock of an existing directory (one without the file has none). */
    public static boolean isHeld(Path dataDir) throws IOException {
        if (!Files.exists(dataDir.resolve(FILE_NAME))) {
            return false;
        }
        Optional<DataDirectoryLock> taken = tryTake(dataDir);
        taken.ifPresent(DataDirectoryLock::close);
        return taken.isEmpty();
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // The process's end releases it anyway.
        }
    }
}
