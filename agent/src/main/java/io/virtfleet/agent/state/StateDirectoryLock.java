package io.virtfleet.agent.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The agent's hold on its state directory, {@code <state-dir>/agent.lock}, for as long as it runs: two agents on
 * one state directory would share one identity and one ledger of what they defined, and each would undo the
 * other's work. The lock is the kernel's (released when the process ends, however it ends); the file holds the pid
 * of the agent holding it, for the operator who finds it.
 */
public final class StateDirectoryLock implements AutoCloseable {
    static final String FILE = "agent.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private StateDirectoryLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Takes the lock, or fails naming the directory and the pid of the agent that holds it. */
    public static StateDirectoryLock acquire(Path stateDirectory) throws IOException {
        Files.createDirectories(stateDirectory);
        Path file = stateDirectory.resolve(FILE);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // held by another agent of this JVM (tests run several)
        }
        if (lock == null) {
            String holder = Files.readString(file, StandardCharsets.US_ASCII).strip();
            channel.close();
            throw new IOException("another virtfleet-agent uses state-dir " + stateDirectory
                    + (holder.isEmpty() ? "" : " (pid " + holder + ")") + ": one agent per state directory");
        }
        channel.truncate(0);
        channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        return new StateDirectoryLock(channel, lock);
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
