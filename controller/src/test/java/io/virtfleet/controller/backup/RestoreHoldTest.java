package io.virtfleet.controller.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.controller.registry.Domains;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The restore hold's marker and its judgement of where each VM runs against its record. */
class RestoreHoldTest {
    @TempDir
    Path dir;

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

    private static Vm vm(String name, String home, boolean running) {
        return Vm.newBuilder().setSpec(VmSpec.newBuilder().setName(name)).setHomeHost(home).setRunningWanted(running)
                .setPhase(VmPhase.VM_PHASE_READY).build();
    }

    private static DomainInfo d(String name, DomainState state) {
        return DomainInfo.newBuilder().setName(name).setState(state).build();
    }
}
