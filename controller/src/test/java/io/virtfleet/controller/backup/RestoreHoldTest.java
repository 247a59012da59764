package io.virtfleet.controller.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.autostart.BootMark;
import io.virtfleet.agent.autostart.BootStarts;
import io.virtfleet.agent.autostart.HostBoot;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.Fences;
import io.virtfleet.controller.fencing.HostLoss;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ReleaseRestoreHoldRequest;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.LibvirtException;

/**
 * The restore hold's marker and its judgement of where each VM runs against its record; and, on an embedded fleet
 * (controller and agents in this JVM, libvirt's test driver), what the hold keeps from happening until it is
 * released: a host that boots starts none of the domains it starts with the host, a fenced host coming back is not
 * told to stand down, and a silent host is not suspected lost (no fence, no failover).
 */
class RestoreHoldTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration LOST_AFTER = Duration.ofSeconds(2);
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private final List<AutoCloseable> closers = new ArrayList<>();
    private Agent hv1;

    @AfterEach
    void stop() throws Exception {
        if (hv1 != null) {
            hv1.close();
        }
        for (AutoCloseable c : closers) {
            c.close();
        }
    }

    @Test
    void theMarkerHoldsUntilReleasedAndTheReleaseIsDurable() throws Exception {
        assertFalse(RestoreHold.open(dir).holding(), "no marker, no hold");
        Instant taken = Instant.parse("2026-12-07T10:00:00Z");
        RestoreHold.mark(dir, taken, Instant.parse("2026-12-07T11:00:00Z"));
        RestoreHold hold = RestoreHold.open(dir);
        assertTrue(hold.holding());
        assertEquals(taken, hold.backupTakenAt().orElseThrow());
        assertTrue(hold.asHoldOff().test("any-vm"));
        assertTrue(hold.release());
        assertFalse(hold.holding());
        assertFalse(hold.asHoldOff().test("any-vm"));
        assertFalse(Files.exists(dir.resolve(RestoreHold.FILE)));
        assertFalse(RestoreHold.open(dir).holding(), "a controller started after the release does not hold");
        assertFalse(hold.release(), "nothing left to release");
    }

    @Test
    void anUnreadableMarkerStillHolds() throws Exception {
        Files.writeString(dir.resolve(RestoreHold.FILE), "garbage");
        assertTrue(RestoreHold.open(dir).holding());
    }

    @Test
    void listsEveryVmNotRunningOnExactlyItsRecordedHome() {
        List<Vm> vms = List.of(
                vm("home", "hv1", true),      // runs on hv1: in place
                vm("moved", "hv1", true),     // runs on hv2 only: followable
                vm("twice", "hv1", true),     // runs on hv1 and hv2
                vm("nowhere", "hv2", true),   // wanted running, runs nowhere
                vm("stopped", "hv2", false),  // held stopped, runs nowhere: in place
                vm("onlost", "hv1", true),    // runs on hv3 only, which is not fit
                vm("paused", "hv1", true));   // paused on hv2: counts as running there
        Map<String, List<DomainInfo>> domains = Map.of(
                "hv1", List.of(d("home", DomainState.DOMAIN_STATE_RUNNING), d("twice", DomainState.DOMAIN_STATE_RUNNING),
                        d("moved", DomainState.DOMAIN_STATE_SHUTOFF)),
                "hv2", List.of(d("moved", DomainState.DOMAIN_STATE_RUNNING), d("twice", DomainState.DOMAIN_STATE_RUNNING),
                        d("stopped", DomainState.DOMAIN_STATE_SHUTOFF), d("paused", DomainState.DOMAIN_STATE_PAUSED)),
                "hv3", List.of(d("onlost", DomainState.DOMAIN_STATE_RUNNING)));
        List<RestoreHold.Misplaced> out = RestoreHold.misplaced(vms, domains, Set.of(), h -> !h.equals("hv3"),
                x -> Domains.active(x.getState()));
        assertEquals(List.of("moved", "nowhere", "onlost", "paused", "twice"), out.stream().map(RestoreHold.Misplaced::vm).toList());
        RestoreHold.Misplaced moved = out.get(0);
        assertEquals(List.of("hv2"), moved.runningOn());
        assertTrue(moved.followable());
        assertFalse(out.get(1).followable(), "running nowhere");
        assertTrue(out.get(1).reason().contains("runs on no host"), out.get(1).reason());
        assertFalse(out.get(2).followable(), "its host is not fit");
        assertTrue(out.get(3).followable(), "paused counts as running");
        assertEquals(List.of("hv1", "hv2"), out.get(4).runningOn());
        assertFalse(out.get(4).followable(), "two hosts: the operator decides");
    }

    @Test
    void whileHoldingABootedHostStartsNothingAFencedOneIsNotToldToStandDownAndNoSilentHostIsSuspected() throws Exception {
        // hv1 runs on libvirt's shared test:///default, which keeps its domains between the agent's connections as
        // long as one is open: this one, the test's view of hv1 (power failures included).
        Connect libvirt = new Connect("test:///default", false);
        closers.add(libvirt::close);
        EmbeddedFleet fleet = EmbeddedFleet.builder(dir.resolve("fleet"))
                .nodes(List.of(new TestDriverNode("hv2", 8, 16384), new TestDriverNode("hv3", 8, 16384)))
                .heartbeat(HEARTBEAT).grace(HEARTBEAT.multipliedBy(5)).reconcileInterval(Duration.ofHours(1))
                .hostLoss(new HostLoss.Settings(LOST_AFTER, HostLoss.Mode.MANUAL)).build().start();
        closers.add(0, fleet);
        Path bootId = dir.resolve("hv1-boot_id");
        Files.writeString(bootId, "boot-1\n");
        hv1 = startHv1(fleet, bootId);
        Await.until("hv1 answered by the controller", WAIT, () -> hv1.standDown().refusesStarts().isEmpty());
        assertEquals(BootMark.Decision.ALREADY_SERVED, hv1.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS)
                .decision(), "the agent's first start leaves the running boot to libvirt");

        // app is hv1's VM: recorded there, defined with autostart and started as the controller does.
        Vm app = Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("app").setStorage(StorageTier.STORAGE_TIER_SATA))
                .setHomeHost("hv1").setRunningWanted(true).setPhase(VmPhase.VM_PHASE_READY).build();
        fleet.controller().vmStore().save(app, domainXml("app"), "app homed on hv1", "alice");
        try (Clients asController = Clients.as(fleet.controller().pki().credentials())) {
            var agent = AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("agent_endpoint",
                    fleet.controller().registry().get("hv1").orElseThrow().agentEndpoint()), "hv1"))
                    .withDeadlineAfter(WAIT.toSeconds(), TimeUnit.SECONDS);
            agent.defineDomain(DefineDomainRequest.newBuilder().setVmName("app").setDomainXml(domainXml("app"))
                    .setAutostart(true).build());
            agent.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName("app").setRunning(true).build());
        }
        assertTrue(active(libvirt, "app"));

        // hv2 is lost and confirmed down (its verdict will be in the backup); then the controller is restored: it
        // starts on a data directory that holds.
        fleet.stopAgent("hv2");
        ((Fences) fleet.controller().fences()).record(new Fence("hv2", Fence.Kind.CONFIRMED_DOWN, List.of(),
                Instant.now(), null, "alice"));
        fleet.stopController();
        RestoreHold.mark(dir.resolve("fleet/controller"), Instant.now().minusSeconds(3600), Instant.now());
        // Meanwhile hv1 loses power: its QEMUs are gone, and it boots again.
        hv1.close();
        hv1 = null;
        libvirt.domainLookupByName("app").destroy();
        Files.writeString(bootId, "boot-2\n");
        fleet.startController();
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        assertTrue(operator.listHosts(ListHostsRequest.getDefaultInstance()).getRestoreHoldBackupTakenAt().length() > 0,
                "the controller holds");

        // The booted hv1 registers and syncs with the held controller: it is told the controller holds, and starts
        // nothing, though app is homed here and wanted started with the host.
        hv1 = startHv1(fleet, bootId);
        fleet.startAgent("hv2");
        Await.until("hv1 and hv2 registered, hv1 synced", WAIT, () -> hv1.registered() && hv1.sync().completedSinceStart()
                && fleet.agent("hv2").registered() && fleet.agent("hv3").registered());
        Agent hv2 = fleet.agent("hv2");
        long hv1Beats = hv1.link().heartbeatsAccepted();
        long hv2Beats = hv2.link().heartbeatsAccepted();
        Await.until("three more heartbeats of hv1 and hv2 answered", WAIT, () ->
                hv1.link().heartbeatsAccepted() >= hv1Beats + 3 && hv2.link().heartbeatsAccepted() >= hv2Beats + 3);
        assertFalse(hv1.bootStarts().done().isDone(), "no boot start while the controller holds");
        assertFalse(active(libvirt, "app"), "app not started on hv1");
        assertTrue(hv1.standDown().restoreHold(), "hv1 was told the controller holds");
        assertTrue(hv1.standDown().refusesStarts().orElseThrow().contains("holds after a restore"),
                hv1.standDown().refusesStarts().toString());
        // hv2 is fenced in the restored verdicts, but no stand-down is ordered while holding.
        assertTrue(fleet.controller().fences().of("hv2").isPresent(), "the verdict is there");
        assertFalse(hv2.standDown().ordered(), "hv2 not told to stand down while holding");
        assertTrue(hv2.standDown().restoreHold());
        // hv3 goes silent, for twice host-lost-after: never suspected lost while holding.
        long hv3Seen = fleet.controller().registry().get("hv3").orElseThrow().lastSeenNanos();
        fleet.stopAgent("hv3");
        Await.until("hv3 silent for twice host-lost-after", WAIT, () ->
                fleet.controller().registry().nanoTime() - hv3Seen > 2 * LOST_AFTER.toNanos());
        assertEquals(Optional.empty(), fleet.controller().hostLoss().suspicion("hv3"), "no host-loss check while holding");

        // Released: hv1 starts app with the host (the reconciler makes no pass in this test), hv2 is told to stand
        // down, and hv3's silence, counted from the release, makes it suspected lost.
        operator.releaseRestoreHold(ReleaseRestoreHoldRequest.getDefaultInstance());
        BootStarts.Outcome booted = hv1.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(BootMark.Decision.START, booted.decision());
        assertEquals(List.of("app"), booted.started(), booted.failed().toString());
        assertTrue(active(libvirt, "app"));
        Await.until("hv2 told to stand down once released", WAIT, () -> hv2.standDown().ordered());
        Await.until("hv3 suspected lost once released", WAIT, () ->
                fleet.controller().hostLoss().suspicion("hv3").isPresent());
    }

    /** hv1's agent on test:///default, its boot identity read from {@code bootId}. */
    private static Agent startHv1(EmbeddedFleet fleet, Path bootId) throws Exception {
        AgentConfig config = fleet.agentConfig("hv1", fleet.workDirectory().resolve("agents/hv1"), "test:///default");
        if (!Files.exists(config.stateDirectory().resolve("agent.pem"))) {
            config = config.withJoinToken(fleet.joinToken("hv1"));
        }
        Agent agent = Agent.create(config, binder -> binder.bind(HostBoot.class).toInstance(HostBoot.fromFile(bootId)));
        try {
            agent.start();
        } catch (Exception | Error e) {
            agent.close();
            throw e;
        }
        return agent;
    }

    private static boolean active(Connect libvirt, String vm) throws LibvirtException {
        return libvirt.domainLookupByName(vm).isActive() == 1;
    }

    /** A small guest without disk or network, under a UUID of its own. */
    private static String domainXml(String vm) {
        String uuid = UUID.nameUUIDFromBytes(("virtfleet:" + vm).getBytes(StandardCharsets.UTF_8)).toString();
        return """
                <domain type='kvm'>
                  <name>%s</name>
                  <uuid>%s</uuid>
                  <memory unit='MiB'>64</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64'>hvm</type></os>
                </domain>
                """.formatted(vm, uuid);
    }

    private static Vm vm(String name, String home, boolean running) {
        return Vm.newBuilder().setSpec(VmSpec.newBuilder().setName(name)).setHomeHost(home).setRunningWanted(running)
                .setPhase(VmPhase.VM_PHASE_READY).build();
    }

    private static DomainInfo d(String name, DomainState state) {
        return DomainInfo.newBuilder().setName(name).setState(state).build();
    }
}
