package io.virtfleet.controller.backup;

import io.virtfleet.common.files.WriteGate;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;

/**
 * A backup of a running controller's data directory, taken at one instant: the definitions repository's objects and
 * packs, which never change once named, are copied first with the gate open; then the process's {@link WriteGate} is
 * closed (the state writes under way finish, new ones wait), the rest of the directory (and the objects made
 * meanwhile) is copied into the archive, and the gate opens again. The copy holds every state write made before that instant and none made after, as a power loss then would
 * have left the disk; the controller recovers from such a state by design (a claim whose VM was never recorded is
 * released at start, a recorded VM is finished by the reconciler, moves and failovers go on from their journals).
 */
public final class Snapshot {
    /** How long a backup waits for the state writes under way before it gives up (they go on; the backup fails). */
    public static final Duration PATIENCE = Duration.ofSeconds(20);

    private final Path dataDir;
    private final Clock clock;
    private final Duration patience;

    public Snapshot(Path dataDir, Clock clock, Duration patience) {
        this.dataDir = dataDir;
        this.clock = clock;
        this.patience = patience;
    }

    /** What a snapshot wrote, and how long state writes waited for it. */
    public record Taken(BackupArchive.Manifest manifest, long barrierMillis) {}

    /**
     * Writes the archive to {@code archive}, a new owner-only file (it holds the fleet's keys). Blocks while state
     * writes finish and while it copies: never call it on a gRPC event loop.
     *
     * @throws WriteGate.GateBusyException state writes went on for longer than the patience; nothing was copied
     */
    public Taken takeInto(Path archive) throws IOException, InterruptedException, WriteGate.GateBusyException {
        try (FileChannel file = FileChannel.open(archive, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
            OutputStream out = new java.io.BufferedOutputStream(Channels.newOutputStream(file), 256 * 1024);
            BackupArchive.Writer writer = new BackupArchive.Writer(dataDir, out);
            // The repository's objects first, while writes go on: they never change once named.
            writer.copyImmutable();
            BackupArchive.Manifest manifest;
            long closedAt;
            long openedAt;
            try (WriteGate.Pass closed = WriteGate.close(patience)) {
                closedAt = System.nanoTime();
                manifest = writer.finish(clock.instant());
                out.flush();
                openedAt = System.nanoTime();
            }
            file.force(true);
            return new Taken(manifest, Duration.ofNanos(openedAt - closedAt).toMillis());
        } catch (IOException | InterruptedException | WriteGate.GateBusyException | RuntimeException e) {
            Files.deleteIfExists(archive);
            throw e;
        }
    }
}
