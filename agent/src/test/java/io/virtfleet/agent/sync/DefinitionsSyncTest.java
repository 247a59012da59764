package io.virtfleet.agent.sync;

import static io.virtfleet.agent.sync.UpstreamRepo.domainXml;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.SyncAction;
import io.virtfleet.proto.v1.SyncEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replicas on one host (hv1) against a real git repository pulled over file:// (a definitions-remote) and
 * libvirt's test driver: what a sync defines, repairs, keeps and undefines, judged by what libvirt holds.
 */
class DefinitionsSyncTest {
    private static final String HOST = "hv1";

    @TempDir
    Path work;

    private UpstreamRepo repo;
    private ReplicaHost host;

    @BeforeEach
    void repository() throws Exception {
        repo = UpstreamRepo.create(work.resolve("upstream"));
    }

    @AfterEach
    void stop() {
        if (host != null) {
            host.close();
        }
        repo.close();
    }

    private ReplicaHost host(String... foreignDomains) throws Exception {
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url(), foreignDomains);
        return host;
    }

    /** The events of a sync as "vm ACTION" (the repository's own events as "- ACTION"), in order. */
    private static List<String> actions(List<SyncEvent> events) {
        return events.stream().map(e -> (e.getVmName().isEmpty() ? "-" : e.getVmName()) + " "
                + e.getAction().name().substring("SYNC_ACTION_".length())).toList();
    }

    private static String memoryKiB(String xml) {
        int start = xml.indexOf("<memory unit='KiB'>") + "<memory unit='KiB'>".length();
        return xml.substring(start, xml.indexOf("</memory>", start));
    }

    @Test
    void aReplicatedVmOfAnotherHostIsDefinedShutOffWithoutAutostartAndNothingElseIs() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512))
                .vm("web", "hv2", false, domainXml("web", 256))
                .vm("mine", HOST, true, domainXml("mine", 256))
                .vm("old", "hv2", true, domainXml("old", 256)).deleting("old");
        String head = repo.commit("four VMs");
        host();

        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "db DEFINED", "- DONE"), actions(events));
        events.forEach(e -> assertEquals(head, e.getSyncedCommit(), "every event carries the clone's commit"));
        SyncEvent done = events.get(events.size() - 1);
        assertTrue(done.getDone());
        ReplicaHost.Seen db = host.seen("db").orElseThrow();
        assertEquals(UpstreamRepo.uuid("db"), db.uuid());
        assertFalse(db.active(), "a replica is never started");
        assertFalse(db.autostart(), "a replica never starts with the host");
        assertEquals("524288", memoryKiB(db.inactiveXml()));
        assertTrue(host.seen("web").isEmpty(), "not replicated");
        assertTrue(host.seen("mine").isEmpty(), "homed here: the controller defines it, not the sync");
        assertTrue(host.seen("old").isEmpty(), "being deleted");
        assertEquals(new SyncState.Status(head, ""), host.sync.status());
        assertEquals(head, host.reporter.report().getSyncedCommit());

        // Nothing changed: a second sync only pulls and finds the replica up to date.
        List<SyncEvent> again = host.sync(head);
        assertEquals(List.of("- PULLED", "- DONE"), actions(again));
        assertTrue(again.get(1).getDetail().contains("1 up to date"), again.get(1).getDetail());
    }

    @Test
    void aRepositoryWithoutAnyFileYetIsSyncedToo() throws Exception {
        String empty = repo.commitEmpty("the controller's first commit");
        host();

        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "- DONE"), actions(events));
        assertEquals(empty, host.sync.status().syncedCommit());
        repo.vm("db", "hv2", true, domainXml("db", 512));
        repo.commit("db");
        assertEquals(List.of("- PULLED", "db DEFINED", "- DONE"), actions(host.sync("")));
    }

    @Test
    void aDefinitionChangedInTheRepositoryIsDefinedAgain() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512));
        repo.commit("db");
        host().sync("");

        repo.vm("db", "hv2", true, domainXml("db", 1024));
        String head = repo.commit("db gets more memory");
        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "db REDEFINED", "- DONE"), actions(events));
        ReplicaHost.Seen db = host.seen("db").orElseThrow();
        assertEquals("1048576", memoryKiB(db.inactiveXml()));
        assertFalse(db.active());
        assertFalse(db.autostart());
        assertEquals(head, host.sync.status().syncedCommit());
        assertEquals(Sha256.hex(domainXml("db", 1024)), host.hypervisor.ledger().get("db").orElseThrow().sourceSha256());
    }

    @Test
    void aReplicaChangedByHandIsRepairedWhileShutOffAndKeptWhileRunning() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512));
        repo.commit("db");
        host().sync("");

        host.defineByHand(domainXml("db", 2048));
        assertEquals(List.of("- PULLED", "db REPAIRED", "- DONE"), actions(host.sync("")));
        ReplicaHost.Seen repaired = host.seen("db").orElseThrow();
        assertEquals("524288", memoryKiB(repaired.inactiveXml()), "the repository's definition is back");
        assertFalse(repaired.active(), "repairing does not start it");

        host.defineByHand(domainXml("db", 2048));
        host.startByHand("db");
        List<SyncEvent> events = host.sync("");
        assertEquals(List.of("- PULLED", "db KEPT", "- DONE"), actions(events));
        assertEquals("running and changed by hand: not overwritten", events.get(1).getDetail());
        ReplicaHost.Seen kept = host.seen("db").orElseThrow();
        assertTrue(kept.active());
        assertEquals("2097152", memoryKiB(kept.inactiveXml()), "the hand edit of a running replica stays");
    }

    @Test
    void autostartTurnedOnByHandIsTurnedOffAgain() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512));
        repo.commit("db");
        host().sync("");
        host.hypervisor.call(conn -> {
            conn.domainLookupByName("db").setAutostart(true);
            return null;
        });

        assertEquals(List.of("- PULLED", "db REPAIRED", "- DONE"), actions(host.sync("")));
        assertFalse(host.seen("db").orElseThrow().autostart());
    }

    @Test
    void aReplicaWhoseVmLeftIsUndefinedUnlessItRuns() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512))
                .vm("web", "hv2", true, domainXml("web", 256))
                .vm("app", "hv2", true, domainXml("app", 256))
                .vm("moved", "hv2", true, domainXml("moved", 256));
        repo.commit("four replicated VMs");
        host().sync("");
        host.startByHand("web");

        repo.remove("db").remove("web").replicated("app", false).homeHost("moved", HOST);
        String head = repo.commit("db and web deleted, app no longer replicated, moved comes to hv1");
        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "app UNDEFINED", "db UNDEFINED", "web KEPT", "- DONE"), actions(events));
        assertTrue(host.seen("db").isEmpty());
        assertTrue(host.seen("app").isEmpty());
        assertTrue(host.seen("web").orElseThrow().active(), "a running replica is not undefined");
        assertTrue(events.get(3).getDetail().startsWith("running; removed from the repository: not undefined"),
                events.get(3).getDetail());
        assertTrue(host.seen("moved").isPresent(), "a VM homed here now is the controller's business");
        assertEquals(head, host.sync.status().syncedCommit());
        assertEquals(List.of("moved", "web"), List.copyOf(host.hypervisor.ledger().all().keySet()));

        // Once stopped, the left-over replica goes at the next sync; one already gone by hand is just forgotten.
        host.hypervisor.call(conn -> {
            conn.domainLookupByName("web").destroy();
            return null;
        });
        assertEquals(List.of("- PULLED", "web UNDEFINED", "- DONE"), actions(host.sync("")));
        assertTrue(host.seen("web").isEmpty());
    }

    @Test
    void aDomainVirtfleetNeverDefinedIsNeverTouched() throws Exception {
        String legacy = domainXml("legacy", 128);
        String foreignDb = domainXml("db", 128).replace(UpstreamRepo.uuid("db"), "11111111-2222-3333-4444-555555555555");
        repo.vm("db", "hv2", true, domainXml("db", 512)).vm("web", "hv2", true, domainXml("web", 256));
        String head = repo.commit("db and web");
        host(legacy, foreignDb);
        String legacyBefore = host.seen("legacy").orElseThrow().inactiveXml();
        String dbBefore = host.seen("db").orElseThrow().inactiveXml();

        List<SyncEvent> events = host.sync("");

        // A domain of the replica's name but another UUID is someone else's: refused, the other replica still defined.
        assertEquals(List.of("- PULLED", "db FAILED", "web DEFINED", "- FAILED"), actions(events));
        assertTrue(events.get(1).getDetail().contains("exists with UUID 11111111-2222-3333-4444-555555555555"),
                events.get(1).getDetail());
        assertEquals(dbBefore, host.seen("db").orElseThrow().inactiveXml());
        assertNotEquals(head, host.sync.status().syncedCommit());

        // The VMs leave the repository: the foreign domains stay exactly as they were.
        repo.remove("db").remove("web");
        repo.commit("db and web deleted");
        assertEquals(List.of("- PULLED", "web UNDEFINED", "- DONE"), actions(host.sync("")));
        assertEquals(legacyBefore, host.seen("legacy").orElseThrow().inactiveXml());
        assertEquals(dbBefore, host.seen("db").orElseThrow().inactiveXml());
    }

    @Test
    void aRunningCopyVirtfleetNeverDefinedHereIsNeverMadeAReplica() throws Exception {
        // The runbook's copy of an adopted VM (same UUID as the repository's), running here although its record
        // names another home: a second QEMU on the VM's disk. It must stay as it is, not become virtfleet's replica.
        String copy = domainXml("db", 128);
        host(copy);
        host.startByHand("db");
        repo.vm("db", "hv2", true, domainXml("db", 512));
        String head = repo.commit("db adopted on hv2");

        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "db FAILED", "- FAILED"), actions(events));
        assertTrue(events.get(1).getDetail().contains("runs here") && events.get(1).getDetail().contains("virsh destroy db"),
                events.get(1).getDetail());
        ReplicaHost.Seen seen = host.seen("db").orElseThrow();
        assertTrue(seen.active(), "still running");
        assertEquals("131072", memoryKiB(seen.inactiveXml()), "its definition is not overwritten");
        assertNotEquals(head, host.sync.status().syncedCommit());
    }

    @Test
    void aRunningHomeDomainWhoseRecordNamesAnotherHomeIsKeptNotMadeAReplica() throws Exception {
        // db was defined here as its home (with the host's start) and runs; the record now homes it on hv2 with other
        // memory (older records restored from a backup, or a move whose end is not recorded yet).
        host();
        host.domains.define("db", domainXml("db", 128), true, false).get();
        host.domains.setRunning("db", true, java.time.Duration.ofSeconds(5)).get();
        repo.vm("db", "hv2", true, domainXml("db", 512));
        String head = repo.commit("db homed on hv2");

        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "db KEPT", "- DONE"), actions(events));
        assertTrue(events.get(1).getDetail().contains("defined as its home"), events.get(1).getDetail());
        ReplicaHost.Seen db = host.seen("db").orElseThrow();
        assertTrue(db.active(), "still running");
        assertEquals("131072", memoryKiB(db.inactiveXml()), "its persistent definition is not overwritten");
        DefinitionLedger.Entry entry = host.hypervisor.ledger().get("db").orElseThrow();
        assertFalse(entry.replica(), "still its home entry");
        assertTrue(entry.autostart(), "its start with the host is kept");
        assertEquals(head, host.sync.status().syncedCommit());

        // Once it is stopped here, it becomes the replica its record asks for.
        host.domains.setRunning("db", false, java.time.Duration.ofSeconds(5)).get();
        assertEquals(List.of("- PULLED", "db REDEFINED", "- DONE"), actions(host.sync("")));
        assertEquals("524288", memoryKiB(host.seen("db").orElseThrow().inactiveXml()));
        assertTrue(host.hypervisor.ledger().get("db").orElseThrow().replica());
    }

    @Test
    void whileTheControllerHoldsASyncPullsButChangesNoDomain() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512)).vm("old", "hv2", true, domainXml("old", 256));
        String before = repo.commit("db and old replicated from hv2");
        host().sync("");
        // The restored (older) records: old is gone, db's definition differs, new is replicated from hv2.
        repo.remove("old").vm("db", "hv2", true, domainXml("db", 1024)).vm("new", "hv2", true, domainXml("new", 256));
        String restored = repo.commit("the restored records");
        StandDown gate = new StandDown();
        host.sync.withHold(gate::restoreHold);
        gate.told(false, true, restored);

        List<SyncEvent> events = host.sync(restored);

        assertEquals(List.of("- PULLED", "- FAILED"), actions(events));
        String why = host.sync.status().error();
        assertTrue(why.startsWith(DefinitionsSync.HOLDING) && why.contains("restore-hold release"), why);
        assertEquals(before, host.sync.status().syncedCommit(), "the synced commit stays");
        assertEquals(why, host.reporter.report().getSyncError(), "the host's report shows it");
        assertEquals("524288", memoryKiB(host.seen("db").orElseThrow().inactiveXml()), "db not redefined");
        assertTrue(host.seen("old").isPresent(), "old not undefined");
        assertTrue(host.seen("new").isEmpty(), "new not defined");

        // Released: the next sync brings the replicas in step.
        gate.told(false, false, restored);
        assertEquals(List.of("- PULLED", "db REDEFINED", "new DEFINED", "old UNDEFINED", "- DONE"),
                actions(host.sync(restored)));
        assertEquals(new SyncState.Status(restored, ""), host.sync.status());
    }

    @Test
    void oneBadDefinitionFailsAloneAndTheSyncedCommitStays() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512));
        String first = repo.commit("db");
        host().sync("");

        String shadow = domainXml("bad", 256).replace("<devices>",
                "<devices><disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vdb' bus='virtio'/></disk>");
        repo.vm("bad", "hv2", true, shadow).vm("web", "hv2", true, domainXml("web", 256))
                .vm("zed", "hv2", true, "<domain type='kvm'><name>zed</name>");
        String second = repo.commit("bad, web and zed");
        List<SyncEvent> events = host.sync("");

        assertEquals(List.of("- PULLED", "bad FAILED", "web DEFINED", "zed FAILED", "- FAILED"), actions(events));
        assertTrue(events.get(1).getDetail().contains("/etc/shadow"), events.get(1).getDetail());
        SyncEvent last = events.get(events.size() - 1);
        assertFalse(last.getDone());
        assertEquals("", last.getVmName());
        assertEquals(second, last.getSyncedCommit(), "the clone is at the new commit");
        assertTrue(last.getDetail().startsWith("2 of 4 replicas could not be brought in step; synced commit stays "
                + first.substring(0, 12)), last.getDetail());
        assertTrue(host.seen("web").isPresent());
        assertTrue(host.seen("bad").isEmpty());
        assertTrue(host.seen("zed").isEmpty());
        assertEquals(first, host.sync.status().syncedCommit());
        assertTrue(host.sync.status().error().contains("bad: "), host.sync.status().error());
        assertEquals(host.sync.status().error(), host.reporter.report().getSyncError());
        assertEquals(first, host.reporter.report().getSyncedCommit());

        repo.vm("bad", "hv2", true, domainXml("bad", 256)).vm("zed", "hv2", true, domainXml("zed", 256));
        String fixed = repo.commit("bad and zed fixed");
        assertEquals(List.of("- PULLED", "bad DEFINED", "zed DEFINED", "- DONE"), actions(host.sync("")));
        assertEquals(new SyncState.Status(fixed, ""), host.sync.status());
    }

    @Test
    void theLedgerAndTheSyncedCommitSurviveARestartOfTheAgent() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512)).vm("web", "hv2", true, domainXml("web", 256));
        String head = repo.commit("db and web");
        host().sync("");
        host.defineByHand(domainXml("web", 1024)); // a hand edit the restarted agent must still see as one
        Map<String, DefinitionLedger.Entry> before = new TreeMap<>(host.hypervisor.ledger().all());
        DomainInfo dbBefore = host.reported("db", d -> !d.getDefinitionSha256().isEmpty());

        host = host.restart();

        assertEquals(head, host.sync.status().syncedCommit(), "reported before any sync");
        assertEquals(head, host.reporter.report().getSyncedCommit());
        assertEquals(before, host.hypervisor.ledger().all());
        DomainInfo db = host.reported("db", d -> !d.getDefinitionSha256().isEmpty());
        assertEquals(dbBefore.getSourceSha256(), db.getSourceSha256());
        assertEquals(dbBefore.getDefinedSha256(), db.getDefinedSha256());
        assertEquals(db.getDefinedSha256(), db.getDefinitionSha256());
        assertTrue(db.getReplica());
        // Without the ledger db would be defined again, and the hand edit of web would go unnoticed.
        assertEquals(List.of("- PULLED", "web REPAIRED", "- DONE"), actions(host.sync("")));
    }

    @Test
    void aCommitMainDoesNotContainIsRefusedAndNothingIsDefined() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512));
        repo.commit("db");
        String elsewhere = repo.commitElsewhere("experiment", "README", "not on main\n");
        host();

        SyncException refused = assertThrows(SyncException.class, () -> host.sync(elsewhere));
        assertEquals(SyncException.Kind.PRECONDITION, refused.kind());
        assertTrue(refused.getMessage().contains(elsewhere), refused.getMessage());
        assertTrue(host.seen("db").isEmpty());
        assertEquals("", host.sync.status().syncedCommit());
        assertEquals(refused.getMessage(), host.sync.status().error());

        assertThrows(SyncException.class, () -> host.sync("0123456789abcdef0123456789abcdef01234567"));
    }

    @Test
    void aRemoteThatCannotBePulledIsUnavailableWithTheReason() throws Exception {
        host = ReplicaHost.start(HOST, work.resolve(HOST), "file://" + work.resolve("nowhere").toAbsolutePath());
        SyncException refused = assertThrows(SyncException.class, () -> host.sync(""));
        assertEquals(SyncException.Kind.UNAVAILABLE, refused.kind());
        assertTrue(refused.getMessage().contains("nowhere"), refused.getMessage());
        assertEquals(refused.getMessage(), host.reporter.report().getSyncError());
    }

    @Test
    void withoutARemoteAndWithoutTheControllersGitPortThereIsNothingToSyncFrom() throws Exception {
        host = ReplicaHost.start(HOST, work.resolve(HOST), null);
        SyncException refused = assertThrows(SyncException.class, () -> host.sync(""));
        assertEquals(SyncException.Kind.PRECONDITION, refused.kind());
        assertEquals("the controller serves no definitions repository and no definitions-remote is configured",
                refused.getMessage());
        assertFalse(Files.exists(host.cloneDir()));
    }

    @Test
    void theReportShowsWhatWasSentWhatLibvirtMadeOfItAndWhatItHoldsNow() throws Exception {
        repo.vm("db", "hv2", true, domainXml("db", 512));
        repo.commit("db");
        host().sync("");

        DomainInfo defined = host.reported("db", d -> !d.getDefinitionSha256().isEmpty());
        assertEquals(Sha256.hex(domainXml("db", 512)), defined.getSourceSha256());
        assertEquals(Sha256.hex(host.seen("db").orElseThrow().inactiveXml()), defined.getDefinitionSha256());
        assertEquals(defined.getDefinedSha256(), defined.getDefinitionSha256());
        assertTrue(defined.getReplica());

        host.defineByHand(domainXml("db", 2048));
        String now = Sha256.hex(host.seen("db").orElseThrow().inactiveXml());
        DomainInfo edited = host.reported("db", d -> d.getDefinitionSha256().equals(now));
        assertNotEquals(edited.getDefinedSha256(), edited.getDefinitionSha256());
        assertEquals(defined.getDefinedSha256(), edited.getDefinedSha256());
        assertEquals(defined.getSourceSha256(), edited.getSourceSha256());
    }
}
