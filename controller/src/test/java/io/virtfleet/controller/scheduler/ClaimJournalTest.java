package io.virtfleet.controller.scheduler;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.virtfleet.common.files.FileSync;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.testkit.SyncRecorder;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.StorageTier;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The claims journal: a claim is on the disk before its decision is returned, yet the scheduler's lock is not
 * held while it gets there, so the heartbeats that feed placement never wait for a claim's fsync.
 */
class ClaimJournalTest {
    @TempDir
    Path dir;

    /** Syncs for real, but the first file sync waits until the test lets it go. */
    private static final class HeldSync implements FileSync {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public void force(FileChannel channel, Path file) throws IOException {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            DISK.force(channel, file);
        }

        @Override
        public void forceDirectory(Path directory) throws IOException {
            DISK.forceDirectory(directory);
        }
    }

    private static HostReport report(String host, long otherVmMemory) {
        // A VXLAN underlay address: the requests below are LAN VMs, which only hosts carrying VXLAN take.
        HostReport.Builder b = HostReport.newBuilder().setHostName(host).setVxlanAddress("10.0.0.2").setResources(HostResources.newBuilder()
                .setLogicalThreads(16).setMemoryTotalBytes(64 * GIB).setMemoryAvailableBytes(60 * GIB)
                .setImagesFreeBytes(500 * GIB).setImagesTotalBytes(1000 * GIB));
        if (otherVmMemory > 0) {
            b.addDomains(DomainInfo.newBuilder().setName("not-placed-here").setState(DomainState.DOMAIN_STATE_RUNNING)
                    .setMemoryBytes(otherVmMemory).setMaxMemoryBytes(otherVmMemory).setVcpus(1));
        }
        return b.build();
    }

    @Test
    void aHeartbeatIsAnsweredWhileAClaimWaitsForTheDisk() throws Exception {
        HostRegistry registry = new HostRegistry();
        Liveness liveness = new Liveness(Duration.ofMinutes(1), Drains.inMemory());
        ExecutorService placing = Executors.newSingleThreadExecutor();
        HeldSync held = new HeldSync();
        Transport transport = Transport.plaintextForTests("claim-journal-test", 1);
        Transport agentSide = Transport.plaintextForTests("claim-journal-agent", 1);
        try (ClaimBook book = ClaimBook.open(dir.resolve("claims"))) {
            Scheduler scheduler = new Scheduler(Policy.defaults(), Map.of(), book, () -> 7L);
            registry.listen(r -> scheduler.update(FleetFeed.snapshot(r, liveness, registry.nanoTime())), scheduler::forget);
            // As the controller serves agents: handlers on the event loop (a direct executor).
            Server server = transport.startServer(new InetSocketAddress("127.0.0.1", 0), Runnable::run,
                    List.of(new RegistryEndpoint(registry, new EnrolledHosts(dir.resolve("enrolled-hosts")),
                            Duration.ofSeconds(1), Duration.ofMinutes(1), () -> "", () -> 0)), List.of(), List.of(), false);
            ManagedChannel channel = agentSide.channel(new Endpoint("127.0.0.1", server.getPort()),
                    FleetIdentity.controller(), Runnable::run);
            try {
                RegistryGrpc.RegistryBlockingStub agent = RegistryGrpc.newBlockingStub(channel);
                String session = agent.register(RegisterRequest.newBuilder().setAgentId("a1").setAgentEndpoint("127.0.0.1:1")
                        .addStorageTiers("sata").setReport(report("hv1", 0)).build()).getSessionId();

                Future<Decision> create = placing.submit(() -> {
                    try (var scope = FileSync.during(held)) {
                        return scheduler.place(new Request("web1", 4 * GIB, 2, StorageTier.STORAGE_TIER_SATA, 0, null,
                                null, null));
                    }
                });
                held.entered.await(); // the claim is decided and its journal record is waiting for the disk

                // The heartbeat is answered, and placement takes its report in, while the claim's fsync is held.
                agent.withDeadlineAfter(30, TimeUnit.SECONDS).heartbeat(HeartbeatRequest.newBuilder()
                        .setSessionId(session).setReport(report("hv1", 3 * GIB)).build());
                assertEquals((4 + 3) * GIB, scheduler.allocated("hv1")[0], "the claim and the reported VM");
                assertFalse(create.isDone(), "a decision is not returned before its claim is on the disk");

                held.release.countDown();
                Decision decision = create.get(60, TimeUnit.SECONDS);
                assertTrue(decision.placed());
                assertEquals("hv1", decision.claim().host());
            } finally {
                held.release.countDown(); // never leave the event loop blocked, whatever failed
                channel.shutdownNow();
                server.shutdownNow();
            }
        } finally {
            placing.shutdownNow();
            agentSide.close();
            transport.close();
        }
        try (ClaimBook reopened = ClaimBook.open(dir.resolve("claims"))) {
            assertNotNull(reopened.get("web1"));
        }
    }

    @Test
    void aRestoreFindingAClaimOnItsWayToTheDiskReturnsItOnlyOnceItIsThere() throws Exception {
        ExecutorService placing = Executors.newSingleThreadExecutor();
        ExecutorService restoring = Executors.newSingleThreadExecutor();
        HeldSync held = new HeldSync();
        try (ClaimBook book = ClaimBook.open(dir.resolve("claims"))) {
            Scheduler scheduler = new Scheduler(Policy.defaults(), Map.of(), book, () -> 7L);
            scheduler.update(FleetFeed.snapshot(new HostRegistry().register("a", "127.0.0.1:1", "", List.of("sata"),
                    report("hv1", 0)), new Liveness(Duration.ofMinutes(1), Drains.inMemory()), System.nanoTime()));
            Request web1 = new Request("web1", 4 * GIB, 2, StorageTier.STORAGE_TIER_SATA, 0, null, null, null);
            try {
                Future<Decision> create = placing.submit(() -> {
                    try (var scope = FileSync.during(held)) {
                        return scheduler.place(web1);
                    }
                });
                held.entered.await(); // decided, its record waiting for the disk

                CompletableFuture<Thread> restorer = new CompletableFuture<>();
                Future<Claim> restore = restoring.submit(() -> {
                    restorer.complete(Thread.currentThread());
                    return scheduler.restore(web1, "hv1");
                });
                // The restore either returned (the defect) or waits for the journal the held sync keeps.
                Thread t = restorer.get(30, TimeUnit.SECONDS);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (!restore.isDone() && t.getState() != Thread.State.BLOCKED && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                assertFalse(restore.isDone(), "a claim not yet on the disk was returned as if it were");

                held.release.countDown();
                assertEquals("hv1", create.get(30, TimeUnit.SECONDS).claim().host());
                assertSame(create.get().claim(), restore.get(30, TimeUnit.SECONDS));
            } finally {
                held.release.countDown(); // before the book closes: closing waits for the held sync
            }
        } finally {
            placing.shutdownNow();
            restoring.shutdownNow();
        }
    }

    @Test
    void eachClaimAndReleaseIsSyncedBeforeItReturnsAndCompactionReplacesTheJournalDurably() throws Exception {
        Path journal = dir.resolve("claims");
        SyncRecorder syncs = new SyncRecorder();
        try (var scope = FileSync.during(syncs); ClaimBook book = ClaimBook.open(journal)) {
            syncs.assertReplacedDurably(journal); // compacted on open
            Scheduler s = new Scheduler(Policy.defaults(), Map.of(), book, () -> 9L);
            s.update(FleetFeed.snapshot(new HostRegistry().register("a", "127.0.0.1:1", "", List.of("sata"),
                    report("hv1", 0)), new Liveness(Duration.ofMinutes(1), Drains.inMemory()), System.nanoTime()));
            assertTrue(s.place(new Request("web1", GIB, 1, StorageTier.STORAGE_TIER_SATA, 0, null, null, null)).placed());
            syncs.assertSyncedHolding(journal, "+ web1 hv1 1073741824 1 STORAGE_TIER_SATA 0 - 9\n"
                    .getBytes(StandardCharsets.US_ASCII));
            syncs.clear();
            s.release("web1");
            syncs.assertSyncedHolding(journal, "+ web1 hv1 1073741824 1 STORAGE_TIER_SATA 0 - 9\n- web1\n"
                    .getBytes(StandardCharsets.US_ASCII));
            // Enough churn to compact: the journal is rewritten through a synced temporary file and a synced rename.
            syncs.clear();
            for (int i = 0; i < 70; i++) {
                s.place(new Request("vm" + i, GIB / 64, 1, StorageTier.STORAGE_TIER_SATA, 0, null, null, null));
                s.release("vm" + i);
            }
            syncs.assertReplacedDurably(journal, null);
        }
        try (ClaimBook book = ClaimBook.open(journal)) {
            assertEquals(0, book.size());
        }
    }

    @Test
    void aClaimTheJournalCannotHoldIsWithdrawnAndTheJournalRewrittenNextTime() throws Exception {
        Path journal = dir.resolve("claims");
        try (ClaimBook book = ClaimBook.open(journal)) {
            Scheduler s = new Scheduler(Policy.defaults(), Map.of(), book, () -> 9L);
            s.update(FleetFeed.snapshot(new HostRegistry().register("a", "127.0.0.1:1", "", List.of("sata"),
                    report("hv1", 0)), new Liveness(Duration.ofMinutes(1), Drains.inMemory()), System.nanoTime()));
            FileSync failing = new FileSync() {
                @Override
                public void force(FileChannel channel, Path file) throws IOException {
                    throw new IOException("the disk went away");
                }

                @Override
                public void forceDirectory(Path directory) throws IOException {
                    DISK.forceDirectory(directory);
                }
            };
            try (var scope = FileSync.during(failing)) {
                UncheckedIOException e = assertThrows(UncheckedIOException.class,
                        () -> s.place(new Request("web1", 4 * GIB, 1, StorageTier.STORAGE_TIER_SATA, 0, null, null, null)));
                assertTrue(e.getMessage().contains(journal.toString()), e.getMessage());
            }
            assertNull(s.claimOf("web1"), "no claim kept that the journal does not hold");
            assertEquals(0, s.allocated("hv1")[0]);
            assertTrue(s.place(new Request("web2", GIB, 1, StorageTier.STORAGE_TIER_SATA, 0, null, null, null)).placed());
        }
        try (ClaimBook book = ClaimBook.open(journal)) {
            assertNull(book.get("web1"));
            assertNotNull(book.get("web2"));
        }
        assertTrue(Files.readString(journal).contains("web2"));
    }
}
