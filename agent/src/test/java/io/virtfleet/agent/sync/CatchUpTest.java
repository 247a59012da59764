package io.virtfleet.agent.sync;

import static io.virtfleet.agent.sync.UpstreamRepo.domainXml;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A host catches up with the commit the controller names in its answers, without being asked to sync. */
class CatchUpTest {
    @TempDir
    Path work;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private UpstreamRepo repo;
    private ReplicaHost host;

    @BeforeEach
    void start() throws Exception {
        repo = UpstreamRepo.create(work.resolve("upstream"));
        repo.vm("db", "hv2", true, domainXml("db", 512));
    }

    @AfterEach
    void stop() {
        host.close();
        repo.close();
    }

    private void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 20 s: " + what);
            }
            Thread.sleep(20);
        }
    }

    /** The heartbeat decides there and then whether to start a sync: none is started, and nothing changed. */
    private void assertNoSyncStarted(CatchUp catchUp, String commit) throws Exception {
        String error = host.sync.status().error();
        String synced = host.sync.status().syncedCommit();
        int started = catchUp.syncsStarted();
        catchUp.heartbeat(commit, false, false);
        assertEquals(started, catchUp.syncsStarted(), "syncs started by a heartbeat naming " + commit);
        assertFalse(host.sync.busy());
        assertEquals(synced, host.sync.status().syncedCommit());
        assertEquals(error, host.sync.status().error());
    }

    @Test
    void theControllersCommitIsSyncedToAndAFailureIsRetriedAfterFiveSecondsAtTheEarliest() throws Exception {
        String first = repo.commit("db");
        host = ReplicaHost.start("hv1", work.resolve("hv1"), repo.url());
        CatchUp catchUp = new CatchUp(host.sync, now::get);

        catchUp.heartbeat("", false, false); // a controller that names no commit
        assertEquals(0, catchUp.syncsStarted());
        assertTrue(host.seen("db").isEmpty());

        catchUp.registered(0, first, false, false);
        await(() -> first.equals(host.sync.status().syncedCommit()), "synced to " + first);
        assertTrue(host.seen("db").isPresent());
        await(() -> !host.sync.busy(), "sync over");

        // In step: the same commit again starts nothing (a hand edit would otherwise be repaired).
        host.defineByHand(domainXml("db", 2048));
        String edited = host.seen("db").orElseThrow().inactiveXml();
        assertNoSyncStarted(catchUp, first);
        assertEquals(edited, host.seen("db").orElseThrow().inactiveXml());

        // The controller moves on while its repository cannot be reached: the sync fails...
        repo.vm("web", "hv2", true, domainXml("web", 256));
        String second = repo.commit("web");
        Path away = work.resolve("away");
        Files.move(repo.dir(), away);
        catchUp.heartbeat(second, false, false);
        await(() -> !host.sync.status().error().isEmpty() && !host.sync.busy(), "a failed sync");
        Files.move(away, repo.dir());

        // ...and is not tried again before 5 s, however often the controller answers...
        advance(Duration.ofSeconds(1));
        assertNoSyncStarted(catchUp, second);
        advance(Duration.ofMillis(3900));
        assertNoSyncStarted(catchUp, second);
        assertTrue(host.seen("web").isEmpty());

        // ...but at most 6 s (5 s and its jitter) later it is.
        advance(Duration.ofMillis(1200));
        catchUp.heartbeat(second, false, false);
        await(() -> second.equals(host.sync.status().syncedCommit()), "synced to " + second);
        assertTrue(host.seen("web").isPresent());
        assertEquals("", host.sync.status().error());
    }

    @Test
    void aRestartedAgentSyncsOnceEvenWhenItsSyncedCommitIsTheControllers() throws Exception {
        String head = repo.commit("db");
        host = ReplicaHost.start("hv1", work.resolve("hv1"), repo.url());
        host.sync("");
        host.defineByHand(domainXml("db", 2048)); // while the agent is down, say
        host = host.restart();
        assertEquals(head, host.sync.status().syncedCommit());

        CatchUp catchUp = new CatchUp(host.sync, now::get);
        catchUp.heartbeat(head, false, false);
        await(() -> host.sync.completedSinceStart(), "a first sync");
        assertTrue(host.seen("db").orElseThrow().inactiveXml().contains("<memory unit='KiB'>524288</memory>"),
                "the hand edit made while the agent was away is repaired");
    }

    @Test
    void withNothingToPullFromNoSyncIsStarted() throws Exception {
        String head = repo.commit("db");
        host = ReplicaHost.start("hv1", work.resolve("hv1"), null);
        CatchUp catchUp = new CatchUp(host.sync, now::get);

        catchUp.registered(0, head, false, false); // the controller serves no repository and no remote is configured
        assertEquals(0, catchUp.syncsStarted());
        assertFalse(host.sync.busy());
        assertEquals(new SyncState.Status("", ""), host.sync.status(), "not even a failure to report");
    }
}
