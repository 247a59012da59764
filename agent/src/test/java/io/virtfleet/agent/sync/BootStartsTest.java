package io.virtfleet.agent.sync;

import static io.virtfleet.agent.sync.UpstreamRepo.domainXml;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.autostart.BootMark.Decision;
import io.virtfleet.agent.autostart.BootStarts;
import io.virtfleet.agent.autostart.HostBoot;
import io.virtfleet.agent.hypervisor.DefinitionLedgerAccess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Domain;

/**
 * The agent's autostart (libvirt's test driver, a real git repository): a home domain defined with autostart keeps
 * libvirt's own flag off and the wish in the ledger; one an agent of before left with libvirt's flag on is taken over;
 * the agent starts them once per host boot, only once the controller has answered and orders no stand-down, and not
 * one whose home moved while the host was away (the stand-down clears its wish).
 */
class BootStartsTest {
    private static final String HOST = "hv1";

    @TempDir
    Path work;

    private UpstreamRepo repo;
    private ReplicaHost host;
    private BootStarts bootStarts;
    private Path bootId;

    @BeforeEach
    void repository() throws Exception {
        repo = UpstreamRepo.create(work.resolve("upstream"));
        bootId = work.resolve("boot_id");
        Files.writeString(bootId, "boot-1\n");
    }

    @AfterEach
    void stop() {
        if (bootStarts != null) {
            bootStarts.close();
        }
        if (host != null) {
            host.close();
        }
        repo.close();
    }

    @Test
    void homeDomainsStartWithTheHostOncePerBootBehindTheStartGate() throws Exception {
        // web is not replicated: after the stand-down it stays defined here as it was, not redefined as a replica.
        repo.vm("web", HOST, false, domainXml("web", 128)).vm("mine", HOST, true, domainXml("mine", 128))
                .vm("quiet", HOST, true, domainXml("quiet", 128)).vm("old", HOST, true, domainXml("old", 128));
        String first = repo.commit("four VMs homed on hv1");
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url());
        for (String vm : List.of("web", "mine")) {
            host.domains.define(vm, domainXml(vm, 128), true, false).get(30, TimeUnit.SECONDS);
        }
        host.domains.define("quiet", domainXml("quiet", 128), false, false).get(30, TimeUnit.SECONDS);
        assertFalse(host.seen("web").orElseThrow().autostart(), "libvirt's own autostart stays off");
        assertTrue(host.hypervisor.ledger().get("web").orElseThrow().autostart(), "the wish is the ledger's");
        assertFalse(host.hypervisor.ledger().get("quiet").orElseThrow().autostart());
        host.reported("web", d -> d.getAutostart() && !d.getLibvirtAutostart());
        // old: as an agent of before left it, libvirt's own flag on and no wish in the ledger.
        host.domains.define("old", domainXml("old", 128), false, false).get(30, TimeUnit.SECONDS);
        setLibvirtAutostartByHand("old");
        host.reported("old", d -> d.getAutostart() && d.getLibvirtAutostart());

        // The agent's first start: libvirt's flag of old is taken over; the running boot is libvirt's to serve.
        StandDown gate = agentStarts();
        gate.told(false);
        synced(first);
        assertEquals(Decision.ALREADY_SERVED, outcome().decision(), "the running boot is marked libvirt's at the start");
        assertFalse(host.seen("old").orElseThrow().autostart(), "libvirt's own autostart of old turned off");
        assertTrue(host.hypervisor.ledger().get("old").orElseThrow().autostart(), "and kept as the agent's wish");

        // The host boots again (its QEMUs gone): libvirt starts nothing; the agent starts the three once answered.
        host = host.restart();
        Files.writeString(bootId, "boot-2\n");
        gate = agentStarts();
        assertFalse(host.seen("web").orElseThrow().active());
        assertFalse(bootStarts.done().isDone(), "nothing before the controller's answer");
        gate.told(false);
        assertFalse(bootStarts.done().isDone(), "nothing before a sync has run to its end");
        synced(first);
        BootStarts.Outcome booted = outcome();
        assertEquals(Decision.START, booted.decision());
        assertEquals(List.of("mine", "old", "web"), booted.started());
        assertTrue(booted.failed().isEmpty(), booted.failed().toString());
        assertFalse(host.seen("quiet").orElseThrow().active(), "not to be started with the host");

        // An operator stops mine; the agent restarts during the same boot: mine stays off.
        host.domains.setRunning("mine", false, Duration.ofSeconds(1)).get(30, TimeUnit.SECONDS);
        host = host.restart();
        gate = agentStarts();
        gate.told(false);
        synced(first);
        assertEquals(Decision.ALREADY_SERVED, outcome().decision());
        assertFalse(host.seen("mine").orElseThrow().active(), "stopped by the operator since the boot");

        // The host is lost; web gets another home. It boots again and is told to stand down: nothing starts, the
        // stand-down clears web's wish, and once unfenced only the VMs still homed here start.
        repo.homeHost("web", "hv2");
        String head = repo.commit("web restarted on hv2 while hv1 was lost");
        powerOff();
        host = host.restart();
        Files.writeString(bootId, "boot-3\n");
        gate = agentStarts();
        gate.told(true);
        assertFalse(bootStarts.done().isDone(), "nothing is started while the stand-down is ordered");
        host.sync.standDown(head, e -> { }).get(60, TimeUnit.SECONDS);
        assertFalse(host.hypervisor.ledger().get("web").orElseThrow().autostart(), "web's home moved: no wish left");
        host.reported("web", d -> !d.getAutostart() && !d.getLibvirtAutostart());
        gate.told(false);
        BootStarts.Outcome unfenced = outcome();
        assertEquals(Decision.START, unfenced.decision());
        assertEquals(List.of("mine", "old"), unfenced.started());
        assertFalse(host.seen("web").orElseThrow().active(), "web runs on hv2 now");

        // A move off hv1 whose end the ledger never saw (the agent died between libvirt's end and the ledger's
        // write): the ledger still wants web started with the host, but its record names hv2, and no stand-down is
        // ordered (hv1 was never lost). It is not started at the next boot.
        String uuid = host.hypervisor.ledger().get("web").orElseThrow().uuid();
        DefinitionLedgerAccess.wantAutostart(host.hypervisor.ledger(), "web", uuid, true);
        powerOff();
        host = host.restart();
        Files.writeString(bootId, "boot-4\n");
        gate = agentStarts();
        gate.told(false);
        synced(head);
        BootStarts.Outcome moved = outcome();
        assertEquals(List.of("mine", "old"), moved.started());
        assertFalse(host.seen("web").orElseThrow().active(), "the synced record names hv2: web is not started");
    }

    @Test
    void anAgentUpgradedThenRebootedBeforeTheControllerAnsweredStartsItsVmsAtTheNextBoot() throws Exception {
        repo.vm("app", HOST, true, domainXml("app", 128));
        String head = repo.commit("app homed on hv1");
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url());
        host.domains.define("app", domainXml("app", 128), false, false).get(30, TimeUnit.SECONDS);
        setLibvirtAutostartByHand("app"); // as an agent of before left it
        agentStarts(); // the new agent: it takes libvirt's flag over; the controller does not answer
        host.reported("app", d -> d.getAutostart() && !d.getLibvirtAutostart()); // taken over: the wish is the ledger's
        powerOff();
        host = host.restart();
        Files.writeString(bootId, "boot-2\n");
        StandDown gate = agentStarts();
        gate.told(false);
        synced(head);
        BootStarts.Outcome booted = outcome();
        assertEquals(Decision.START, booted.decision());
        assertEquals(List.of("app"), booted.started());
    }

    @Test
    void theBootStartsWaitForASyncAtTheCommitOfTheAnswerThatOpenedTheGate() throws Exception {
        repo.vm("app", HOST, true, domainXml("app", 128)).vm("mine", HOST, true, domainXml("mine", 128));
        String before = repo.commit("app and mine homed on hv1");
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url());
        for (String vm : List.of("app", "mine")) {
            host.domains.define(vm, domainXml(vm, 128), true, false).get(30, TimeUnit.SECONDS);
        }
        StandDown gate = agentStarts();
        gate.told(false);
        synced(before);
        assertEquals(Decision.ALREADY_SERVED, outcome().decision());

        // The host boots again while the controller holds; its last complete sync homes app here. The release
        // commits app's record following it to hv2, and the answer that opens the gate names that commit.
        host = host.restart();
        Files.writeString(bootId, "boot-2\n");
        gate = agentStarts();
        gate.told(false, true, before);
        synced(before);
        repo.homeHost("app", "hv2");
        String release = repo.commit("restore-hold release: app follows it to hv2");
        gate.told(false, false, release);
        // A sync at a commit after the release's counts too.
        repo.vm("other", "hv2", false, domainXml("other", 128));
        String later = repo.commit("another VM");
        synced(later);
        BootStarts.Outcome booted = outcome();
        assertEquals(Decision.START, booted.decision());
        assertEquals(List.of("mine"), booted.started(), "app is homed on hv2 at the release commit");
        assertFalse(host.seen("app").orElseThrow().active());
    }

    @Test
    void aWishThatCannotBeTurnedOffInTheLedgerFailsTheStandDown() throws Exception {
        repo.vm("web", HOST, false, domainXml("web", 128));
        repo.commit("web homed on hv1");
        host = ReplicaHost.start(HOST, work.resolve(HOST), repo.url());
        host.domains.define("web", domainXml("web", 128), true, false).get(30, TimeUnit.SECONDS);
        host.domains.setRunning("web", true, Duration.ofSeconds(1)).get(30, TimeUnit.SECONDS);
        repo.homeHost("web", "hv2");
        String head = repo.commit("web restarted on hv2 while hv1 was lost");
        // The ledger's file cannot be replaced any more (a directory in its place: root ignores permissions).
        Path ledger = host.stateDir().resolve("defined-domains.json");
        Files.deleteIfExists(ledger);
        Files.createDirectories(ledger.resolve("blocked"));

        SyncState.Status failed = host.sync.standDown(head, e -> { }).get(60, TimeUnit.SECONDS);
        assertTrue(failed.error().contains("no longer to be started with the host"), failed.error());
        assertFalse(host.seen("web").orElseThrow().active(), "destroyed all the same");

        Files.delete(ledger.resolve("blocked"));
        Files.delete(ledger);
        SyncState.Status done = host.sync.standDown(head, e -> { }).get(60, TimeUnit.SECONDS);
        assertEquals("", done.error(), "the wish is written once the file can be");
        assertTrue(Files.readString(ledger).contains("web"));
        assertFalse(io.virtfleet.agent.hypervisor.DefinitionLedger.load(host.stateDir()).get("web").orElseThrow()
                .autostart(), "off in the file");
    }

    /** A sync of the agent's clone to {@code commit}, run to its end. */
    private void synced(String commit) throws Exception {
        SyncState.Status status = host.sync.run(commit, e -> { }).get(60, TimeUnit.SECONDS);
        assertEquals("", status.error(), status.toString());
    }

    /** A new agent on the host: its autostart and its start gate, wired as the agent does. */
    private StandDown agentStarts() {
        if (bootStarts != null) {
            bootStarts.close();
        }
        StandDown gate = new StandDown();
        host.domains.withStartGate(gate::refusesStarts);
        bootStarts = new BootStarts(host.domains, host.hypervisor.ledger(), host.stateDir(), HostBoot.fromFile(bootId));
        bootStarts.agentStarted();
        host.sync.afterCompletion(bootStarts::syncCompleted);
        bootStarts.judgingCommitsBy(host.sync::includes);
        gate.onceStartsAllowed(bootStarts::startsAllowed);
        return gate;
    }

    private BootStarts.Outcome outcome() throws Exception {
        return bootStarts.done().get(30, TimeUnit.SECONDS);
    }

    /** The host loses power: every QEMU ends (the test driver's domains are destroyed). */
    private void powerOff() throws Exception {
        host.hypervisor.call(conn -> {
            for (int id : conn.listDomains()) {
                Domain d = conn.domainLookupByID(id);
                d.destroy();
                d.free();
            }
            return null;
        });
    }

    private void setLibvirtAutostartByHand(String vm) throws Exception {
        host.hypervisor.call(conn -> {
            Domain d = conn.domainLookupByName(vm);
            d.setAutostart(true);
            d.free();
            return null;
        });
    }
}
