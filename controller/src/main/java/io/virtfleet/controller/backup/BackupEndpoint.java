package io.virtfleet.controller.backup;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.files.WriteGate;
import io.virtfleet.proto.v1.BackupChunk;
import io.virtfleet.proto.v1.BackupSummary;
import io.virtfleet.proto.v1.BackupsGrpc;
import io.virtfleet.proto.v1.TakeBackupRequest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code TakeBackup}: a {@link Snapshot} of the data directory, streamed to the admin who asked. The snapshot and
 * every read of the archive run on this endpoint's executor, never on a gRPC event loop; the archive is sent as fast
 * as the caller reads it (the stream's readiness), from a private temporary file deleted once sent or abandoned.
 * One backup at a time: a second caller gets RESOURCE_EXHAUSTED.
 */
public final class BackupEndpoint extends BackupsGrpc.BackupsImplBase {
    private static final Logger log = LoggerFactory.getLogger(BackupEndpoint.class);
    private static final Logger audit = LoggerFactory.getLogger("virtfleet.audit");
    static final int CHUNK = 256 * 1024;

    private final Snapshot snapshot;
    private final ExecutorService work;
    private final AtomicBoolean busy = new AtomicBoolean();

    /** @param work where snapshots are taken and archives read: a thread that may block on the disk */
    public BackupEndpoint(Snapshot snapshot, ExecutorService work) {
        this.snapshot = snapshot;
        this.work = work;
    }

    @Override
    public void takeBackup(TakeBackupRequest request, StreamObserver<BackupChunk> response) {
        ServerCallStreamObserver<BackupChunk> call = (ServerCallStreamObserver<BackupChunk>) response;
        if (!busy.compareAndSet(false, true)) {
            response.onError(Status.RESOURCE_EXHAUSTED.withDescription("a backup is already being taken; try again when"
                    + " it is done").asRuntimeException());
            return;
        }
        Sender sender = new Sender(call, io.virtfleet.controller.fleet.Audit.operator());
        call.setOnCancelHandler(sender::cancelled); // both hand off to the executor: no file I/O here
        call.setOnReadyHandler(sender::wake);
        try {
            work.execute(sender::take);
        } catch (RejectedExecutionException e) {
            busy.set(false);
            response.onError(Status.UNAVAILABLE.withDescription("the controller is stopping").asRuntimeException());
        }
    }

    /** Stops the executor; a backup under way is abandoned. */
    public void close() {
        work.shutdownNow();
    }

    /** One backup: taken, then sent chunk by chunk whenever the stream is ready. */
    private final class Sender {
        private final ServerCallStreamObserver<BackupChunk> call;
        private final String operator;
        private Path archive;
        private InputStream in;
        private BackupSummary summary;
        private boolean finished;
        private final AtomicBoolean draining = new AtomicBoolean();

        Sender(ServerCallStreamObserver<BackupChunk> call, String operator) {
            this.call = call;
            this.operator = operator;
        }

        void take() {
            try {
                // A fresh owner-only directory (as Files makes temporary ones on POSIX), the archive made new in it:
                // no other user can put a file in the archive's place between its name's choice and its creation.
                archive = Files.createTempDirectory("virtfleet-backup-").resolve("controller.zip");
                Snapshot.Taken taken = snapshot.takeInto(archive);
                MessageDigest sha = BackupArchive.sha256();
                try (InputStream all = Files.newInputStream(archive)) {
                    byte[] buffer = new byte[CHUNK];
                    for (int n = all.read(buffer); n >= 0; n = all.read(buffer)) {
                        sha.update(buffer, 0, n);
                    }
                }
                BackupArchive.Manifest m = taken.manifest();
                summary = BackupSummary.newBuilder().setFormat(m.format()).setArchiveBytes(Files.size(archive))
                        .setArchiveSha256(HexFormat.of().formatHex(sha.digest())).setFiles(m.files())
                        .setStateBytes(m.stateBytes()).setBarrierMillis(taken.barrierMillis())
                        .setDefinitionsHead(m.definitionsHead()).setTakenAtUnixMs(m.takenAt().toEpochMilli()).build();
                audit.info("operator {}: backup taken ({} files, {} bytes of state, writes held {} ms, definitions at {})",
                        operator, m.files(), m.stateBytes(), taken.barrierMillis(), m.definitionsHead());
                synchronized (this) {
                    if (finished) { // the caller hung up while the copy was taken
                        Files.deleteIfExists(archive);
                        Files.deleteIfExists(archive.getParent());
                        return;
                    }
                    in = Files.newInputStream(archive);
                }
                drain();
            } catch (WriteGate.GateBusyException e) {
                fail(Status.UNAVAILABLE.withDescription("cannot take a consistent backup now: " + e.getMessage()
                        + "; try again"));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail(Status.UNAVAILABLE.withDescription("the controller is stopping"));
            } catch (IOException | RuntimeException e) {
                log.error("backup failed", e);
                fail(Status.INTERNAL.withDescription("cannot take the backup: " + e.getMessage()));
            }
        }

        /** The stream can take more: send more, on the executor. */
        void wake() {
            try {
                work.execute(this::drain);
            } catch (RejectedExecutionException e) {
                cancelled();
            }
        }

        private void drain() {
            if (!draining.compareAndSet(false, true)) {
                return; // the thread draining now sends this too
            }
            boolean more;
            try {
                more = sendWhileReady();
            } catch (IOException | RuntimeException e) {
                log.error("backup could not be sent", e);
                fail(Status.INTERNAL.withDescription("cannot send the backup: " + e.getMessage()));
                more = false;
            } finally {
                draining.set(false);
            }
            if (more && call.isReady()) {
                wake(); // readiness came back while this drain was finishing: its handler found the drain busy
            }
        }

        /** @return whether there is more to send once the stream is ready again */
        private synchronized boolean sendWhileReady() throws IOException {
            if (in == null || finished) {
                return false;
            }
            byte[] buffer = new byte[CHUNK];
            while (call.isReady()) {
                int n = in.readNBytes(buffer, 0, CHUNK);
                if (n == 0) {
                    call.onNext(BackupChunk.newBuilder().setSummary(summary).build());
                    call.onCompleted();
                    finish();
                    return false;
                }
                call.onNext(BackupChunk.newBuilder().setData(ByteString.copyFrom(buffer, 0, n)).build());
            }
            return true;
        }

        /** The caller hung up: the temporary archive goes, off the event loop. */
        void cancelled() {
            try {
                work.execute(this::finish);
            } catch (RejectedExecutionException e) {
                busy.set(false);
            }
        }

        private synchronized void fail(Status status) {
            if (!finished) {
                try {
                    call.onError(status.asRuntimeException());
                } catch (RuntimeException e) {
                    // the call is already gone
                }
            }
            finish();
        }

        private synchronized void finish() {
            if (finished) {
                return;
            }
            finished = true;
            busy.set(false);
            try {
                if (in != null) {
                    in.close();
                }
                if (archive != null) {
                    Files.deleteIfExists(archive);
                    Files.deleteIfExists(archive.getParent());
                }
            } catch (IOException e) {
                log.warn("cannot delete the backup's temporary file {}: {}", archive, e.getMessage());
            }
        }
    }
}
