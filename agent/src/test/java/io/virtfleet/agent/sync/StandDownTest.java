package io.virtfleet.agent.sync;

import static io.virtfleet.agent.sync.UpstreamRepo.domainXml;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.DomainOperationException;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.SyncEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A host the controller holds as lost comes back and stands down (libvirt's test driver, a real git repository):
 * the running domains virtfleet defined whose VM's home moved are destroyed, their definitions kept and their
 * autostart off (libvirt's flag and the agent's wish); the host's own domains and domains virtfleet never defined are
 * left alone; nothing is started before the controller answered, nor while it orders the stand-down; a stand-down
 * libvirt refuses is retried.
 */
class StandDownTest {
    private static final String HOST = "hv1";

    @TempDir
    Path work;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
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

    /** Defines a VM's home domain here as the controller does (DefineDomain, autostart on), running if asked. */
    private void home(String vm, boolean running) throws Exception {
        host.domains.define(vm, domainXml(vm, 128), true, false).get(30, TimeUnit.SECONDS);
        if (running) {
            host.domains.setRunning(vm, true, Duration.ZERO).get(30, TimeUnit.SECONDS);
        }
    }

    private static List<String> actions(List<SyncEvent> events) {
        return events.stream().map(e -> (e.getVmName().isEmpty() ? "-" : e.getVmName()) + " "
                + e.getAction().name().substring("SYNC_ACTION_".length())).toList();
    }

    private List<SyncEvent> standDown() throws Exception {
        List<SyncEvent> events = new ArrayList<>();
        host.sync.standDown("", events::add).get(60, TimeUnit.SECONDS);
        return events;
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

    @Test
    void theDomainsWhoseHomeMovedAreDestroyedNotUndefinedAndNothingElseIsTouched() throws Exception {
        repo.vm("web", HOST, true, domainXml("web", 128))
                .vm("solo", HOST, false, domainXml("solo", 128))
                .vm("idle", HOST, true, domainXml("idle", 128))
                .vm("mine", HOST, true, domainXml("mine", 128))
                // A record whose domain here was made by someone else (another UUID): not virtfleet's to stop.
                .vm("shadow", "hv2", false, domainXml("shadow", 128));
        repo.commit("five VMs homed on hv1 and one on hv2");
        String legacy = domainXml("legacy", 128);
        String shadow = domainXml("shadow", 128).replace(UpstreamRepo.uuid("shadow"), "11111111-2222-3333-4444-555555555555");
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url(), legacy, shadow);
        home("web", true);
        home("solo", true);
        home("idle", false);
        home("mine", true);
        host.startByHand("legacy");
        host.startByHand("shadow");

        // hv1 was lost; its VMs were given other homes while it was away.
        repo.homeHost("web", "hv2").homeHost("solo", "hv3").homeHost("idle", "hv2");
        String head = repo.commit("failover of hv1");

        List<SyncEvent> events = standDown();

        assertEquals(List.of("- PULLED", "idle DESTROYED", "solo DESTROYED", "web DESTROYED", "idle REDEFINED",
                "web REDEFINED", "- DONE"), actions(events));
        assertEquals(new SyncState.Status(head, ""), host.sync.status());
        for (String moved : List.of("web", "solo", "idle")) {
            ReplicaHost.Seen seen = host.seen(moved).orElseThrow(() -> new AssertionError(moved + " was undefined"));
            assertFalse(seen.active(), moved + " runs elsewhere now");
            assertFalse(seen.autostart(), moved + " must not start with libvirtd again");
            assertFalse(host.hypervisor.ledger().get(moved).orElseThrow().autostart(), moved + ": nor by the agent");
            assertEquals(UpstreamRepo.uuid(moved), seen.uuid());
        }
        assertTrue(events.get(3).getDetail().contains("destroyed web (definition kept)"), events.get(3).getDetail());
        assertTrue(events.get(3).getDetail().endsWith("its home is now hv2"), events.get(3).getDetail());
        assertTrue(host.hypervisor.ledger().get("web").orElseThrow().replica(), "web is hv1's replica now");
        assertFalse(host.hypervisor.ledger().get("solo").orElseThrow().replica(), "not replicated: defined as it was");
        ReplicaHost.Seen mine = host.seen("mine").orElseThrow();
        assertTrue(mine.active() && !mine.autostart(), "homed here: left alone (libvirt's own autostart off)");
        assertTrue(host.hypervisor.ledger().get("mine").orElseThrow().autostart(), "still started with the host, by"
                + " the agent");
        assertTrue(host.seen("legacy").orElseThrow().active(), "never defined by virtfleet: left alone");
        assertTrue(host.seen("shadow").orElseThrow().active(), "another domain under a VM's name: left alone");
        host.reported("web", d -> d.getState() == DomainState.DOMAIN_STATE_SHUTOFF && d.getReplica());

        // Standing down again at the same commit finds nothing to do.
        assertEquals(List.of("- PULLED", "- DONE"), actions(standDown()));
    }

    @Test
    void aReturningHostStartsNothingUntilTheControllerAnswersStandsDownFirstAndRetriesWhatLibvirtRefused()
            throws Exception {
        repo.vm("web", HOST, true, domainXml("web", 128)).vm("mine", HOST, true, domainXml("mine", 128));
        repo.commit("two VMs homed on hv1");
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url());
        home("web", true);
        home("mine", false);
        repo.homeHost("web", "hv2");
        String head = repo.commit("web restarted on hv2 while hv1 was lost");
        // hv1's agent starts again; libvirt runs web (started by hand, or at boot by an agent of before's autostart).
        host = host.restart();
        assertTrue(host.seen("web").orElseThrow().active());
        StandDown standDown = new StandDown();
        host.domains.withStartGate(standDown::refusesStarts);
        host.reporter.withStandDown(standDown::status);
        CatchUp catchUp = new CatchUp(host.sync, standDown, now::get);

        DomainOperationException early = startRefused("mine");
        assertTrue(early.getMessage().contains("the controller has not answered"), early.getMessage());

        // The controller answers "stand down" while libvirt cannot be reached: the stand-down fails with libvirt's error.
        Path node = Path.of(host.hypervisor.uri().substring("test://".length()));
        Path away = node.resolveSibling("away.xml");
        Files.move(node, away);
        host.hypervisor.close();
        catchUp.registered(0, head, true, false);
        await(() -> !standDown.status().error().isEmpty() && !host.sync.busy(), "a failed stand-down");
        String error = standDown.status().error();
        assertTrue(error.contains("web: not stood down (its home is now hv2): libvirt at " + host.hypervisor.uri()
                + " is not reachable"), error);
        HostReport report = host.reporter.report();
        assertTrue(report.getStandingDown());
        assertEquals("", report.getStoodDownCommit());
        assertEquals(error, report.getStandDownError());

        // libvirt is back: the next answers retry it (after the 5 s backoff, on the injected clock).
        Files.move(away, node);
        assertTrue(host.seen("web").orElseThrow().active(), "still running: the stand-down did not happen");
        now.addAndGet(Duration.ofSeconds(6).toNanos());
        catchUp.heartbeat(head, true, false);
        await(() -> head.equals(standDown.status().stoodDownCommit()), "stood down against " + head);
        ReplicaHost.Seen web = host.seen("web").orElseThrow();
        assertFalse(web.active());
        assertFalse(web.autostart());
        report = host.reporter.report();
        assertTrue(report.getStandingDown());
        assertEquals(head, report.getStoodDownCommit());
        assertEquals("", report.getStandDownError());
        assertTrue(startRefused("mine").getMessage().contains("this host is standing down"));

        // Unfenced: the controller no longer orders it, and the host's own VM may start.
        catchUp.heartbeat(head, false, false);
        assertFalse(host.reporter.report().getStandingDown());
        host.domains.setRunning("mine", true, Duration.ZERO).get(30, TimeUnit.SECONDS);
        assertTrue(host.seen("mine").orElseThrow().active());
        assertFalse(host.seen("web").orElseThrow().active());
    }

    private DomainOperationException startRefused(String vm) throws Exception {
        try {
            host.domains.setRunning(vm, true, Duration.ZERO).get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof DomainOperationException refused) {
                assertEquals(DomainOperationException.Reason.UNAVAILABLE, refused.reason());
                assertFalse(host.seen(vm).orElseThrow().active());
                return refused;
            }
            throw e;
        }
        throw new AssertionError(vm + " was started");
    }
}
