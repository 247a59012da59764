package io.virtfleet.controller.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.files.WriteGate;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.proto.v1.BackupChunk;
import io.virtfleet.proto.v1.BackupSummary;
import io.virtfleet.proto.v1.BackupsGrpc;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.TakeBackupRequest;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backup that has to wait (a state write is under way, holding the write gate open) waits on its own worker: an
 * agent's heartbeat on the same one-thread event loop is still answered. Once the write is done, the archive
 * streams in chunks as the caller reads them, and what arrives is the whole archive its summary describes.
 */
class BackupOffTheEventLoopTest {
    @TempDir
    Path dir;

    @Test
    void heartbeatsAreAnsweredWhileABackupWaitsForAStateWrite() throws Exception {
        Path data = dir.resolve("controller");
        EnrolledHosts enrolled = new EnrolledHosts(data.resolve("enrolled-hosts"));
        enrolled.enrolled("hv1", BigInteger.TEN);
        byte[] big = new byte[3 * 1024 * 1024 + 17]; // several chunks, not compressible
        new java.util.Random(7).nextBytes(big);
        StateFiles.write(data.resolve("installs").resolve("web"), big);
        HostRegistry registry = new HostRegistry();
        BackupEndpoint backups = new BackupEndpoint(new Snapshot(data, Clock.systemUTC(), Duration.ofMinutes(2)),
                Executors.newSingleThreadExecutor());
        Transport server = Transport.plaintextForTests("backup-test", 1); // one event loop: any block stops it all
        Transport client = Transport.plaintextForTests("backup-test-client", 1);
        Server grpc = server.startServer(new InetSocketAddress("127.0.0.1", 0), Runnable::run,
                List.of(new RegistryEndpoint(registry, enrolled, Duration.ofSeconds(1), Duration.ofMinutes(1), () -> "",
                        () -> 0), backups), List.of(new StatusMapping()), List.of(), false);
        ManagedChannel channel = client.channel(new Endpoint("127.0.0.1", grpc.getPort()), FleetIdentity.controller(),
                Runnable::run);
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        CompletableFuture<BackupSummary> summary = new CompletableFuture<>();
        try {
            RegistryGrpc.RegistryBlockingStub agent = RegistryGrpc.newBlockingStub(channel);
            HostReport report = HostReport.newBuilder().setHostName("hv1").build();
            String session = agent.register(RegisterRequest.newBuilder().setAgentId("a1").setAgentEndpoint("127.0.0.1:1")
                    .setReport(report).build()).getSessionId();
            try (WriteGate.Pass writing = WriteGate.enter()) {
                BackupsGrpc.newStub(channel).takeBackup(TakeBackupRequest.getDefaultInstance(), new StreamObserver<>() {
                    @Override
                    public void onNext(BackupChunk c) {
                        if (c.hasSummary()) {
                            summary.complete(c.getSummary());
                        } else {
                            received.writeBytes(c.getData().toByteArray());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        summary.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                        summary.completeExceptionally(new AssertionError("completed without a summary"));
                    }
                });
                Await.until("the backup waits at the gate", Duration.ofSeconds(30), () -> WriteGate.waiting() > 0);
                for (int i = 0; i < 3; i++) {
                    agent.withDeadlineAfter(30, TimeUnit.SECONDS).heartbeat(HeartbeatRequest.newBuilder()
                            .setSessionId(session).setReport(report).build());
                }
                assertFalse(summary.isDone(), "no copy while a state write is under way");
            }
            BackupSummary s = summary.get(60, TimeUnit.SECONDS);
            byte[] archive = received.toByteArray();
            assertEquals(s.getArchiveBytes(), archive.length);
            assertTrue(archive.length > 2 * BackupEndpoint.CHUNK, "several chunks: " + archive.length);
            assertEquals(s.getArchiveSha256(), HexFormat.of().formatHex(BackupArchive.sha256().digest(archive)));
            Path file = dir.resolve("b.zip");
            Files.write(file, archive);
            BackupArchive.Manifest m = BackupArchive.verify(file);
            assertEquals(2, m.files(), m.entries().toString());
            assertEquals(s.getFiles(), m.files());
            assertEquals(big.length + Files.size(data.resolve("enrolled-hosts")), s.getStateBytes());
            Await.until("the temporary archive deleted once sent", Duration.ofSeconds(30), () -> {
                try (var tmp = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
                    return tmp.noneMatch(p -> p.getFileName().toString().startsWith("virtfleet-backup-") && isRecent(p));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } finally {
            channel.shutdownNow();
            grpc.shutdownNow();
            backups.close();
            server.close();
            client.close();
        }
    }

    private static boolean isRecent(Path p) {
        try {
            return Files.getLastModifiedTime(p).toInstant().isAfter(java.time.Instant.now().minusSeconds(120));
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
