package io.virtfleet.controller.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.StatusRuntimeException;
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
        EmbeddedFleet fleet = fleetWithHv1("hv2", "hv3");
        Path bootId = dir.resolve("hv1-boot_id");
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
        Await.until("hv1 and hv2 registered, hv1's sync held", WAIT, () -> hv1.registered() && heldSync(hv1)
                && fleet.agent("hv2").registered() && fleet.agent("hv3").registered());
        assertFalse(hv1.sync().completedSinceStart(), "a sync changes nothing while the controller holds");
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
        // hv3 is silent: what it runs is not known, so the release is refused until the admin names it absent.
        StatusRuntimeException unseen = assertThrows(StatusRuntimeException.class, () ->
                operator.releaseRestoreHold(ReleaseRestoreHoldRequest.getDefaultInstance()));
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, unseen.getStatus().getCode());
        assertTrue(unseen.getStatus().getDescription().contains("hv3 (silent)"), unseen.getStatus().getDescription());
        assertTrue(unseen.getStatus().getDescription().contains("--reenroll"), unseen.getStatus().getDescription());
        assertFalse(operator.listHosts(ListHostsRequest.getDefaultInstance()).getRestoreHoldBackupTakenAt().isEmpty(),
                "still holding");
        assertFalse(hv1.bootStarts().done().isDone(), "nothing started by the refused release");
        operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().addAbsent("hv3").build());
        BootStarts.Outcome booted = hv1.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(BootMark.Decision.START, booted.decision());
        assertEquals(List.of("app"), booted.started(), booted.failed().toString());
        assertTrue(active(libvirt, "app"));
        Await.until("hv2 told to stand down once released", WAIT, () -> hv2.standDown().ordered());
        Await.until("hv3 suspected lost once released", WAIT, () ->
                fleet.controller().hostLoss().suspicion("hv3").isPresent());
    }

    @Test
    void aReleaseIsRefusedWhileAVmRunsAwayFromItsHomeAndFollowingItStartsNoSecondCopyOnTheRebootedHome()
            throws Exception {
        HeldAway held = appRunsOnHv2WhileHeldAndHv1Rebooted();
        EmbeddedFleet fleet = held.fleet();
        FleetGrpc.FleetBlockingStub operator = held.operator();
        Connect libvirt = held.libvirt();

        // Released as restored, hv1 would start app: refused, nothing changed, app named.
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () ->
                operator.releaseRestoreHold(ReleaseRestoreHoldRequest.getDefaultInstance()));
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("app (recorded on hv1, runs on hv2)"),
                refused.getStatus().getDescription());
        assertFalse(operator.listHosts(ListHostsRequest.getDefaultInstance()).getRestoreHoldBackupTakenAt().isEmpty(),
                "still holding");
        assertEquals("hv1", fleet.controller().vmStore().get("app").orElseThrow().getHomeHost());
        assertFalse(hv1.bootStarts().done().isDone(), "nothing started");

        // With --follow-running, app's record follows it to hv2: hv1's boot starts, made after a sync at the release
        // commit, leave it off.
        var released = operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setFollowRunning(true).build());
        assertEquals(List.of("app"), released.getFollowedList().stream().map(m -> m.getVm()).toList());
        String releaseCommit = fleet.controller().vmStore().repo().head();
        BootStarts.Outcome booted = hv1.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(BootMark.Decision.START, booted.decision());
        assertEquals(List.of(), booted.started(), "app runs on hv2");
        assertEquals(releaseCommit, hv1.sync().status().syncedCommit(), "synced at the release commit");
        assertFalse(active(libvirt, "app"), "no second copy on hv1");
        assertEquals("hv2", fleet.controller().vmStore().get("app").orElseThrow().getHomeHost());
    }

    @Test
    void withRecordsWinTheRecordKeepsItsHomeNothingIsStoppedAndTheRebootedHomeStartsNoSecondCopy() throws Exception {
        HeldAway held = appRunsOnHv2WhileHeldAndHv1Rebooted();
        EmbeddedFleet fleet = held.fleet();

        var released = held.operator().releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setRecordsWin(true)
                .build());
        assertEquals(List.of("app"), released.getLeftList().stream().map(m -> m.getVm()).toList());
        assertTrue(released.getLeft(0).getDetail().contains("records win"), released.getLeft(0).getDetail());
        Vm app = fleet.controller().vmStore().get("app").orElseThrow();
        assertEquals("hv1", app.getHomeHost(), "the record keeps its home");
        assertFalse(app.getRunningWanted(), "and no longer wants it running there");
        String releaseCommit = fleet.controller().vmStore().repo().head();
        BootStarts.Outcome booted = hv1.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(BootMark.Decision.START, booted.decision());
        assertEquals(List.of(), booted.started(), "app runs on hv2");
        assertEquals(releaseCommit, hv1.sync().status().syncedCommit(), "synced at the release commit");
        assertFalse(active(held.libvirt(), "app"), "no second copy on hv1");
        long beats = fleet.agent("hv2").link().heartbeatsAccepted();
        Await.until("two more heartbeats of hv2", WAIT, () -> fleet.agent("hv2").link().heartbeatsAccepted() >= beats + 2);
        assertTrue(runsOnHv2(fleet), "nothing stopped: app still runs on hv2");
    }

    @Test
    void aReleaseIsRefusedWhileAnEnrolledHostHasNotRegisteredSinceTheRestoreAndWhatItRunsIsFollowedOnceItHas()
            throws Exception {
        Connect libvirt = new Connect("test:///default", false);
        closers.add(libvirt::close);
        removeApp(libvirt);
        EmbeddedFleet fleet = fleetWithHv1("hv2");
        Path bootId = dir.resolve("hv1-boot_id");

        // The backup homes app on hv2 (defined there to start with the host); since then it was failed over to hv1,
        // where it runs.
        fleet.controller().vmStore().save(appOn("hv2"), domainXml("app"), "app homed on hv2", "alice");
        try (Clients asController = Clients.as(fleet.controller().pki().credentials())) {
            agentOf(asController, fleet, "hv2").defineDomain(DefineDomainRequest.newBuilder().setVmName("app")
                    .setDomainXml(domainXml("app")).setAutostart(true).build());
            var onHv1 = agentOf(asController, fleet, "hv1");
            onHv1.defineDomain(DefineDomainRequest.newBuilder().setVmName("app").setDomainXml(domainXml("app"))
                    .setAutostart(true).build());
            onHv1.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName("app").setRunning(true).build());
        }
        assertTrue(active(libvirt, "app"));

        // hv1's agent is down (its QEMU runs on) when the controller is restored: the restored controller has never
        // heard from it.
        hv1.close();
        hv1 = null;
        fleet.stopController();
        RestoreHold.mark(dir.resolve("fleet/controller"), Instant.now().minusSeconds(3600), Instant.now());
        fleet.startController();
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        Await.until("hv2 registered and told the controller holds", WAIT, () -> fleet.agent("hv2").registered()
                && fleet.agent("hv2").standDown().restoreHold());

        // app seems to run nowhere, yet releasing would start it on hv2 next to hv1's copy: refused, hv1 named.
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () ->
                operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setRecordsWin(true).build()));
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("hv1 (not registered since the restart)"),
                refused.getStatus().getDescription());
        assertTrue(refused.getStatus().getDescription().contains("--absent HOST"), refused.getStatus().getDescription());
        assertFalse(operator.listHosts(ListHostsRequest.getDefaultInstance()).getRestoreHoldBackupTakenAt().isEmpty(),
                "still holding");
        Vm recorded = fleet.controller().vmStore().get("app").orElseThrow();
        assertEquals("hv2", recorded.getHomeHost());
        assertTrue(recorded.getRunningWanted(), "nothing changed");
        // hv2 reports: it cannot be named absent; nor can a host never enrolled.
        for (String host : List.of("hv2", "hv9")) {
            StatusRuntimeException bad = assertThrows(StatusRuntimeException.class, () ->
                    operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().addAbsent(host).build()));
            assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
            assertTrue(bad.getStatus().getDescription().startsWith("--absent " + host + ": "),
                    bad.getStatus().getDescription());
        }

        // hv1's agent comes back and reports app: the release then sees it run away from its home, and follows it.
        hv1 = startHv1(fleet, bootId);
        Await.until("hv1 registered and reporting app running", WAIT, () -> hv1.registered()
                && fleet.controller().registry().get("hv1").map(h -> h.report().getDomainsList().stream()
                        .anyMatch(d -> d.getName().equals("app") && Domains.active(d.getState()))).orElse(false));
        StatusRuntimeException away = assertThrows(StatusRuntimeException.class, () ->
                operator.releaseRestoreHold(ReleaseRestoreHoldRequest.getDefaultInstance()));
        assertTrue(away.getStatus().getDescription().contains("app (recorded on hv2, runs on hv1)"),
                away.getStatus().getDescription());
        var released = operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setFollowRunning(true).build());
        assertEquals(List.of("app"), released.getFollowedList().stream().map(m -> m.getVm()).toList());
        fleet.controller().reconciler().reconcileAll().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        long beats = fleet.agent("hv2").link().heartbeatsAccepted();
        Await.until("two more heartbeats of hv2", WAIT, () -> fleet.agent("hv2").link().heartbeatsAccepted() >= beats + 2);
        assertFalse(runsOn(fleet, "hv2"), "no second copy of app on hv2");
        assertTrue(active(libvirt, "app"), "app still runs on hv1");
    }

    @Test
    void aFencedHostRunningAVmRecordedElsewhereBlocksEvenRecordsWinAndCanBeUnfencedWhileHolding() throws Exception {
        HeldAway held = appRunsOnHv2WhileHeldAndHv1Rebooted(true);
        EmbeddedFleet fleet = held.fleet();
        FleetGrpc.FleetBlockingStub operator = held.operator();

        // Released with --records-win, fenced hv2 would be told to stand down and destroy app: refused.
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () ->
                operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setRecordsWin(true).build()));
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("hv2 carries a fence and runs app (recorded on hv1)"),
                refused.getStatus().getDescription());
        assertTrue(refused.getStatus().getDescription().contains("virtfleet host unfence"),
                refused.getStatus().getDescription());
        assertFalse(operator.listHosts(ListHostsRequest.getDefaultInstance()).getRestoreHoldBackupTakenAt().isEmpty(),
                "still holding");
        assertTrue(fleet.controller().vmStore().get("app").orElseThrow().getRunningWanted(), "record unchanged");

        // While hv1 cannot be seen (its agent stopped), the fence stays: hv1 could run a copy of app, which the fence
        // keeps hv2's off the disk.
        hv1.close();
        hv1 = null;
        Await.until("hv1 silent", WAIT, () -> fleet.controller().registry().get("hv1").map(h -> fleet.controller()
                .liveness().silent(h, fleet.controller().registry().nanoTime())).orElse(true));
        StatusRuntimeException unseen = assertThrows(StatusRuntimeException.class, () ->
                operator.unfenceHost(io.virtfleet.proto.v1.UnfenceHostRequest.newBuilder().setName("hv2").build()));
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, unseen.getStatus().getCode());
        assertTrue(unseen.getStatus().getDescription().contains("hv1 (silent)"), unseen.getStatus().getDescription());
        assertFalse(fleet.controller().fences().of("hv2").isEmpty(), "the fence stays");
        hv1 = startHv1(fleet, dir.resolve("hv1-boot_id"));
        Await.until("hv1 reporting again", WAIT, () -> hv1.registered() && heldSync(hv1));

        // Unfencing is allowed while holding, and changes no domain.
        operator.unfenceHost(io.virtfleet.proto.v1.UnfenceHostRequest.newBuilder().setName("hv2").build());
        assertTrue(fleet.controller().fences().of("hv2").isEmpty(), "the verdict is lifted");
        assertTrue(runsOnHv2(fleet));
        var released = operator.releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setFollowRunning(true).build());
        assertEquals(List.of("app"), released.getFollowedList().stream().map(m -> m.getVm()).toList());
        fleet.controller().reconciler().reconcileAll().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        long beats = fleet.agent("hv2").link().heartbeatsAccepted();
        Await.until("two more heartbeats of hv2", WAIT, () -> fleet.agent("hv2").link().heartbeatsAccepted() >= beats + 2);
        assertFalse(fleet.agent("hv2").standDown().ordered(), "hv2 not told to stand down");
        assertTrue(runsOnHv2(fleet), "app still runs on hv2");
        assertFalse(active(held.libvirt(), "app"), "no second copy on hv1");
    }

    private static Vm appOn(String home) {
        return Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("app").setStorage(StorageTier.STORAGE_TIER_SATA)
                        .setDiskBytes(1L << 30).setMemoryBytes(128L << 20).setVcpus(1).setProfile("base")
                        .setNetwork(io.virtfleet.proto.v1.NetworkSpec.newBuilder().setLan(10)))
                .setHomeHost(home).setRunningWanted(true).setPhase(VmPhase.VM_PHASE_READY).build();
    }

    /** test:///default is shared within this JVM: another test's app may still be there. */
    private static void removeApp(Connect libvirt) throws LibvirtException {
        if (java.util.Arrays.asList(libvirt.listDefinedDomains()).contains("app") || activeNamed(libvirt, "app")) {
            org.libvirt.Domain left = libvirt.domainLookupByName("app");
            if (left.isActive() == 1) {
                left.destroy();
            }
            left.undefine();
        }
    }

    /** What {@link #appRunsOnHv2WhileHeldAndHv1Rebooted} leaves. */
    /**
     * An embedded fleet of test-driver hosts named {@code others} (manual host loss, no reconciler pass of its own),
     * and hv1 on the shared test:///default, booted as "boot-1" and answered by the controller.
     */
    private EmbeddedFleet fleetWithHv1(String... others) throws Exception {
        List<TestDriverNode> nodes = new java.util.ArrayList<>();
        for (String host : others) {
            nodes.add(new TestDriverNode(host, 8, 16384));
        }
        EmbeddedFleet fleet = EmbeddedFleet.builder(dir.resolve("fleet")).nodes(nodes)
                .heartbeat(HEARTBEAT).grace(HEARTBEAT.multipliedBy(5)).reconcileInterval(Duration.ofHours(1))
                .hostLoss(new HostLoss.Settings(LOST_AFTER, HostLoss.Mode.MANUAL)).build().start();
        closers.add(0, fleet);
        Path bootId = dir.resolve("hv1-boot_id");
        Files.writeString(bootId, "boot-1\n");
        hv1 = startHv1(fleet, bootId);
        Await.until("hv1 answered by the controller", WAIT, () -> hv1.standDown().refusesStarts().isEmpty());
        return fleet;
    }

    private record HeldAway(EmbeddedFleet fleet, FleetGrpc.FleetBlockingStub operator, Connect libvirt) {}

    /**
     * app recorded on hv1 (defined there to start with the host) and running on hv2; the controller restored (holding)
     * and hv1 rebooted meanwhile, back and told the controller holds.
     */
    private HeldAway appRunsOnHv2WhileHeldAndHv1Rebooted() throws Exception {
        return appRunsOnHv2WhileHeldAndHv1Rebooted(false);
    }

    /** As above; with {@code fenceHv2}, hv2 carries a verdict (fenced) in the restored state. */
    private HeldAway appRunsOnHv2WhileHeldAndHv1Rebooted(boolean fenceHv2) throws Exception {
        Connect libvirt = new Connect("test:///default", false);
        closers.add(libvirt::close);
        removeApp(libvirt);
        EmbeddedFleet fleet = fleetWithHv1("hv2");
        Path bootId = dir.resolve("hv1-boot_id");
        assertEquals(BootMark.Decision.ALREADY_SERVED, hv1.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS)
                .decision());

        // The backup's record homes app on hv1, where it is defined to start with the host; since then it was failed
        // over to hv2, where it runs (the record of that is not in the restored backup).
        Vm app = Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("app").setStorage(StorageTier.STORAGE_TIER_SATA)
                        .setDiskBytes(1L << 30).setMemoryBytes(128L << 20).setVcpus(1).setProfile("base")
                        .setNetwork(io.virtfleet.proto.v1.NetworkSpec.newBuilder().setLan(10)))
                .setHomeHost("hv1").setRunningWanted(true).setPhase(VmPhase.VM_PHASE_READY).build();
        fleet.controller().vmStore().save(app, domainXml("app"), "app homed on hv1", "alice");
        try (Clients asController = Clients.as(fleet.controller().pki().credentials())) {
            agentOf(asController, fleet, "hv1").defineDomain(DefineDomainRequest.newBuilder().setVmName("app")
                    .setDomainXml(domainXml("app")).setAutostart(true).build());
            var onHv2 = agentOf(asController, fleet, "hv2");
            onHv2.defineDomain(DefineDomainRequest.newBuilder().setVmName("app").setDomainXml(domainXml("app"))
                    .setAutostart(true).build());
            onHv2.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName("app").setRunning(true).build());
        }
        assertFalse(active(libvirt, "app"));

        if (fenceHv2) {
            // hv2 was fenced in the backup and unfenced since; the restore brings the verdict back.
            ((Fences) fleet.controller().fences()).record(new Fence("hv2", Fence.Kind.CONFIRMED_DOWN, List.of(),
                    Instant.now(), null, "alice"));
        }
        // The controller is restored (it holds); hv1 reboots meanwhile and comes back while it holds.
        fleet.stopController();
        RestoreHold.mark(dir.resolve("fleet/controller"), Instant.now().minusSeconds(3600), Instant.now());
        hv1.close();
        hv1 = null;
        Files.writeString(bootId, "boot-2\n");
        fleet.startController();
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        hv1 = startHv1(fleet, bootId);
        Await.until("hv1's sync held, app reported running on hv2", WAIT, () -> hv1.registered() && heldSync(hv1)
                && runsOnHv2(fleet));
        return new HeldAway(fleet, operator, libvirt);
    }

    private static boolean activeNamed(Connect libvirt, String vm) throws LibvirtException {
        for (int id : libvirt.listDomains()) {
            if (libvirt.domainLookupByID(id).getName().equals(vm)) {
                return true;
            }
        }
        return false;
    }

    private static boolean runsOnHv2(EmbeddedFleet fleet) {
        return runsOn(fleet, "hv2");
    }

    private static boolean runsOn(EmbeddedFleet fleet, String host) {
        return fleet.controller().registry().get(host).map(h -> h.report().getDomainsList().stream()
                .anyMatch(d -> d.getName().equals("app") && Domains.active(d.getState()))).orElse(false);
    }

    private static boolean heldSync(Agent agent) {
        return agent.sync().status().error().startsWith(io.virtfleet.agent.sync.DefinitionsSync.HOLDING);
    }

    private static AgentGrpc.AgentBlockingStub agentOf(Clients asController, EmbeddedFleet fleet, String host) {
        return AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("agent_endpoint",
                fleet.controller().registry().get(host).orElseThrow().agentEndpoint()), host))
                .withDeadlineAfter(WAIT.toSeconds(), TimeUnit.SECONDS);
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
