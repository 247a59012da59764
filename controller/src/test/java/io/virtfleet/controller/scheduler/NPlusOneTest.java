package io.virtfleet.controller.scheduler;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The N+1 reserve on small fleets worked out by hand. Memory ratio 1 and 32 threads (128 vCPUs) per host keep the
 * numbers plain: a host's memory is what may be promised on it, and vCPUs are never short.
 */
class NPlusOneTest {
    private static final StorageTier SATA = StorageTier.STORAGE_TIER_SATA;
    private static final StorageTier SSD = StorageTier.STORAGE_TIER_SSD;
    private static final StorageTier RAW = StorageTier.STORAGE_TIER_RAW;
    private static final Policy N_PLUS_ONE = new Policy(1.0, 4.0, Policy.Strategy.SPREAD, 0.4, 0.4, 0.2, true);

    private static HostSnapshot host(String name, long memory, Set<StorageTier> tiers) {
        return Fleets.host(name, 32, memory, memory, 0, tiers, 500 * GIB, 500 * GIB);
    }

    private static Scheduler scheduler(Policy policy, HostSnapshot... hosts) {
        Scheduler s = new Scheduler(policy, Map.of(), ClaimBook.inMemory(), () -> 0L);
        for (HostSnapshot h : hosts) {
            s.update(h);
        }
        return s;
    }

    private static void put(Scheduler s, String host, String vm, long memory, StorageTier tier) {
        Decision d = s.place(new Request(vm, memory, 2, tier, 10 * GIB, null, null, host));
        assertTrue(d.placed(), () -> vm + " on " + host + ": " + d.explanation().summary());
    }

    private static Request vm(String name, long memory, String pinned) {
        return new Request(name, memory, 2, SATA, 10 * GIB, null, null, pinned);
    }

    /**
     * Three hosts of 64 GiB. hv1 holds raw-disk VMs of 40 GiB (free 24), hv3 of 36 GiB (free 28); hv2 holds five
     * Ceph-backed VMs: 16 + 4 × 8 = 48 GiB (free 16). Should hv2 be lost, its 48 GiB must restart in hv1's 24 and
     * hv3's 28: first fit, largest first, puts 16 + 8 on hv1 and 3 × 8 on hv3, which keeps 4 GiB.
     */
    private static Scheduler tightFleet(Policy policy) {
        Scheduler s = scheduler(policy, host("hv1", 64 * GIB, Fleets.ALL_TIERS), host("hv2", 64 * GIB, Fleets.ALL_TIERS),
                host("hv3", 64 * GIB, Fleets.ALL_TIERS));
        put(s, "hv1", "files", 40 * GIB, RAW);
        put(s, "hv3", "cache", 36 * GIB, RAW);
        put(s, "hv2", "db", 16 * GIB, SATA);
        for (int i = 1; i <= 4; i++) {
            put(s, "hv2", "web" + i, 8 * GIB, SATA);
        }
        return s;
    }

    @Test
    void aCreateThatWouldLeaveAHostsVmsWithoutRoomIsRefusedNamingTheHostAndTheNumbers() {
        Scheduler s = tightFleet(N_PLUS_ONE);
        // 12 GiB more anywhere: on hv3 (or hv1) the others keep 40 GiB for hv2's 48; on hv2 itself it has 60 GiB
        // to restart in 52.
        Decision d = s.place(vm("big", 12 * GIB, null));
        assertFalse(d.placed());
        Map<String, String> why = new java.util.HashMap<>();
        for (Verdict v : d.explanation().verdicts()) {
            assertEquals("n-plus-one", v.failedFilter(), v.toString());
            why.put(v.host(), v.reason());
        }
        assertEquals("after this, hv2's 5 Ceph-backed VMs (48.0 GiB, 10 vCPUs) could not all restart elsewhere: 40.0 GiB"
                + " of memory free on the other ready hosts (48.0 GiB needed)", why.get("hv3"));
        assertEquals(why.get("hv3"), why.get("hv1"));
        assertEquals("after this, hv2's 6 Ceph-backed VMs (60.0 GiB, 12 vCPUs) could not all restart elsewhere: 52.0 GiB"
                + " of memory free on the other ready hosts (60.0 GiB needed)", why.get("hv2"));
        assertTrue(new NoHostFitsException("big", d.explanation()).getMessage().startsWith("no host fits VM big:"
                + " n-plus-one: 3 hosts (hv1: after this, hv2's 5 Ceph-backed VMs"), "what the operator reads");
    }

    /**
     * hv2 of the tight fleet is lost: its five VMs are restarted on hv1 and hv3 although, as moves, the reserve refuses
     * some of them (it is the room kept for this very loss; keeping it for a second one would leave them down).
     */
    @Test
    void aLostHostsVmsAreRestartedWhereTheReserveRefusesThemAsMoves() {
        Scheduler s = tightFleet(N_PLUS_ONE);
        s.setState("hv2", HostState.HOST_STATE_UNREACHABLE);
        List<String> refusedAsMoves = new java.util.ArrayList<>();
        for (String vm : List.of("db", "web1", "web2", "web3", "web4")) {
            Request r = new Request(vm + "/failover", vm.equals("db") ? 16 * GIB : 8 * GIB, 2, SATA, 10 * GIB, null, null,
                    null);
            if (s.explainMove(r, vm).chosenHost() == null) {
                refusedAsMoves.add(vm);
            }
            Explanation e = s.explainRecovery(r);
            assertTrue(e.verdicts().stream().noneMatch(v -> "n-plus-one".equals(v.failedFilter())), e.summary());
            String target = e.chosenHost();
            assertTrue(target != null && !target.equals("hv2"), vm + ": " + e.summary());
            assertTrue(s.claimForRecovery(r, target).placed(), vm + " on " + target);
        }
        assertFalse(refusedAsMoves.isEmpty(), "the reserve refuses some of them as moves");
    }

    @Test
    void aCreateThatLeavesJustEnoughRoomIsAccepted() {
        Scheduler s = tightFleet(N_PLUS_ONE);
        // 4 GiB on hv3 (the most free, spread's choice): hv1 24 + hv3 24 = 48 GiB, exactly hv2's: 16 + 8 on hv1,
        // 3 × 8 on hv3. The next 4 GiB VM fits nowhere.
        assertEquals("hv3", s.place(vm("small", 4 * GIB, null)).claim().host());
        Decision next = s.place(vm("small2", 4 * GIB, null));
        assertFalse(next.placed());
        assertEquals(3, next.explanation().verdicts().stream().filter(v -> "n-plus-one".equals(v.failedFilter())).count());
    }

    @Test
    void roomInPiecesIsNotRoom() {
        // Three hosts of 64 GiB: hv1 holds 3 × 16 GiB of Ceph-backed VMs, hv2 2 × 16 GiB, hv3 16 GiB, and raw-disk
        // VMs of 10 GiB on hv2 and hv3: free hv1 16, hv2 22, hv3 38. Should hv1 be lost, its 16 GiB VMs restart one
        // on hv2 (6 left) and two on hv3 (6 left). Another 10 GiB raw VM on hv3 leaves 50 GiB free on hv2 and hv3
        // for hv1's 48, but in pieces: one 16 GiB VM on hv2, one on hv3 (12 left), and the third finds 6 and 12.
        Scheduler s = scheduler(N_PLUS_ONE, host("hv1", 64 * GIB, Fleets.ALL_TIERS),
                host("hv2", 64 * GIB, Fleets.ALL_TIERS), host("hv3", 64 * GIB, Fleets.ALL_TIERS));
        for (int i = 1; i <= 3; i++) {
            put(s, "hv1", "a" + i, 16 * GIB, SATA);
        }
        put(s, "hv2", "b1", 16 * GIB, SATA);
        put(s, "hv2", "b2", 16 * GIB, SATA);
        put(s, "hv3", "c1", 16 * GIB, SATA);
        put(s, "hv2", "d1", 10 * GIB, RAW);
        put(s, "hv3", "d2", 10 * GIB, RAW);
        Decision d = s.place(new Request("d3", 10 * GIB, 2, RAW, 10 * GIB, null, null, "hv3"));
        assertFalse(d.placed());
        Verdict hv3 = d.explanation().verdicts().stream().filter(v -> v.host().equals("hv3")).findFirst().orElseThrow();
        assertEquals("n-plus-one", hv3.failedFilter());
        // vCPUs: 2 per VM, 128 per host: hv2 runs 3 (122 free), hv3 3 with d3 (122 free).
        assertEquals("after this, hv1's 3 Ceph-backed VMs (48.0 GiB, 6 vCPUs) could not all restart elsewhere: 50.0 GiB"
                + " and 244 vCPUs free on the other ready hosts, but in pieces: once the larger ones are placed, no host"
                + " has room left for a3 (16.0 GiB, 2 vCPUs; first fit, largest first)", hv3.reason());
    }

    @Test
    void aDrainingHostTakesNoRestartedVmButItsOwnVmsMustStillFitElsewhere() {
        Scheduler s = tightFleet(N_PLUS_ONE);
        // hv1 draining: hv2's 48 GiB would have only hv3's 28 GiB (27 after a 1 GiB VM there): refused, naming hv2.
        s.setState("hv1", HostState.HOST_STATE_DRAINING);
        Decision d = s.place(vm("tiny", GIB, "hv3"));
        assertFalse(d.placed());
        Verdict hv3 = d.explanation().verdicts().stream().filter(v -> v.host().equals("hv3")).findFirst().orElseThrow();
        assertEquals("after this, hv2's 5 Ceph-backed VMs (48.0 GiB, 10 vCPUs) could not all restart elsewhere: 27.0 GiB"
                + " of memory free on the other ready hosts (48.0 GiB needed)", hv3.reason());
        // Back in service, hv1 takes 16 + 8 and hv3 3 × 8 of 27.
        s.setState("hv1", HostState.HOST_STATE_READY);
        assertTrue(s.place(vm("tiny", GIB, "hv3")).placed());
    }

    @Test
    void aHostThatCannotRunTheFleetCpuModelHoldsNoReserve() {
        Scheduler s = tightFleet(N_PLUS_ONE);
        // hv1 reports a CPU too old for the fleet model: placement gives it no VM, restarted ones neither. hv2's 48 GiB
        // would have only hv3's 28 GiB (27 after a 1 GiB VM there), as if hv1 were gone.
        s.update(host("hv1", 64 * GIB, Fleets.ALL_TIERS).withCpuProblem("its CPU lacks avx512f, which the fleet model has"));
        Decision d = s.place(vm("tiny", GIB, "hv3"));
        assertFalse(d.placed());
        Verdict hv3 = d.explanation().verdicts().stream().filter(v -> v.host().equals("hv3")).findFirst().orElseThrow();
        assertEquals("n-plus-one", hv3.failedFilter());
        assertEquals("after this, hv2's 5 Ceph-backed VMs (48.0 GiB, 10 vCPUs) could not all restart elsewhere: 27.0 GiB"
                + " of memory free on the other ready hosts (48.0 GiB needed)", hv3.reason());
        // Fixed, it holds the reserve again: hv1 takes 16 + 8 and hv3 3 × 8 of 27.
        s.update(host("hv1", 64 * GIB, Fleets.ALL_TIERS));
        assertTrue(s.place(vm("tiny", GIB, "hv3")).placed());
    }

    /**
     * Three hosts of 64 GiB at the reserve's limit. hv1 holds a1 and a2, 8 GiB each (free 48); hv2 holds db (16 GiB)
     * and web1 to web4 (8 GiB each), 48 GiB (free 16); hv3 holds a raw-disk VM of 56 GiB and c1 (8 GiB), free 0.
     * Should hv2 be lost, its 48 GiB restart on hv1's 48 exactly; should hv1 be lost, a1 and a2 on hv2's 16 exactly;
     * should hv3, c1 on hv1.
     */
    private static Scheduler fullFleet() {
        Scheduler s = scheduler(N_PLUS_ONE, host("hv1", 64 * GIB, Fleets.ALL_TIERS),
                host("hv2", 64 * GIB, Fleets.ALL_TIERS), host("hv3", 64 * GIB, Fleets.ALL_TIERS));
        put(s, "hv3", "cache", 56 * GIB, RAW);
        put(s, "hv3", "c1", 8 * GIB, SATA);
        put(s, "hv2", "db", 16 * GIB, SATA);
        for (int i = 1; i <= 4; i++) {
            put(s, "hv2", "web" + i, 8 * GIB, SATA);
        }
        put(s, "hv1", "a1", 8 * GIB, SATA);
        put(s, "hv1", "a2", 8 * GIB, SATA);
        return s;
    }

    /** A move as the controller makes it: the target claimed (judged), then the VM's claim moved there. */
    private static void move(Scheduler s, String vm, long memory, StorageTier tier, String to) {
        Decision d = s.claimOn(new Request(vm + "/move", memory, 2, tier, 10 * GIB, null, null, null), to, vm);
        assertTrue(d.placed(), () -> vm + " to " + to + ": " + d.explanation().summary());
        s.release(vm);
        s.restore(new Request(vm, memory, 2, tier, 10 * GIB, null, null, null), to);
        s.release(vm + "/move");
    }

    @Test
    void aDrainEmptiesAHostInAFleetAtTheReservesLimit() {
        Scheduler s = fullFleet();
        assertFalse(s.place(vm("tiny", GIB, null)).placed(), "at the limit: not even 1 GiB more");
        // hv1 drained for a kernel update. As things are hv2's 48 GiB would find only hv3's 0 GiB: every host is
        // short already, and a move may not make it worse. A move off hv1 is judged with hv1 counted back in service
        // (it comes back emptied), before and after the move.
        s.setState("hv1", HostState.HOST_STATE_DRAINING);
        // a1 to hv2 (hv3 has no memory left): hv2 then holds 56 GiB, which hv1 (48 + 8 once a1 left) takes exactly:
        // db, then a1 and web1 to web4. hv1's a2 restarts on hv2's 8 GiB left.
        assertEquals(Optional.empty(), s.reserveRefusesMove("a1", "hv2"));
        move(s, "a1", 8 * GIB, SATA, "hv2");
        // a2 to hv2's last 8 GiB: hv2's 64 GiB restart on the emptied hv1's 64.
        assertEquals(Optional.empty(), s.reserveRefusesMove("a2", "hv2"));
        move(s, "a2", 8 * GIB, SATA, "hv2");
        assertEquals(0, s.allocated("hv1")[0], "hv1 is empty");
        // Creates still keep the rule as things are: hv1 takes nothing while drained, so nothing fits.
        assertFalse(s.place(vm("tiny", GIB, null)).placed());
        s.setState("hv1", HostState.HOST_STATE_READY);
        assertFalse(s.place(vm("tiny", GIB, "hv2")).placed(), "back in service, the fleet is at its limit again");
    }

    @Test
    void aMoveOffADrainedHostThatLeavesAnotherHostWithoutRoomIsStillRefused() {
        Scheduler s = moveFleet(N_PLUS_ONE);
        s.setState("hvB", HostState.HOST_STATE_DRAINING);
        // b1 to hvA takes the only ssd room hvC's c1 has, even with hvB back (it serves no ssd): a new shortfall.
        assertEquals(Optional.of("after this move, hvC's 1 Ceph-backed VM (16.0 GiB, 2 vCPUs) could not all restart"
                + " elsewhere: its ssd VMs need 16.0 GiB and 2 vCPUs, the other ready hosts serving ssd have 8.0 GiB and"
                + " 124 vCPUs free"), s.reserveRefusesMove("b1", "hvA"));
        // b1 to hvC: should hvC be lost, c1 restarts on hvA and b1 on hvB, back in service and emptied.
        assertEquals(Optional.empty(), s.reserveRefusesMove("b1", "hvC"));
        Explanation e = s.explainMove(new Request("b1/move", 8 * GIB, 2, SATA, 10 * GIB, null, null, null), "b1");
        assertEquals("hvC", e.chosenHost(), e.summary());
    }

    @Test
    void aMoveIsRefusedForAShortfallItMakesWorseNotForOneItLeavesAsItWas() {
        Scheduler s = moveFleet(N_PLUS_ONE);
        // c2 (4 GiB, ssd) recorded on hvC as found there (not judged): hvC's 20 GiB of ssd VMs have only hvA's 16 GiB
        // of ssd room, 4 GiB missing.
        s.restore(new Request("c2", 4 * GIB, 2, SSD, 10 * GIB, null, null, null), "hvC");
        assertFalse(s.place(vm("tiny", GIB, "hvB")).placed(), "a create keeps the rule: no host may be short after it");
        // b1 to hvC: hvC's ssd VMs still miss 4 GiB, its sata b1 restarts on hvB: nothing worse.
        assertEquals(Optional.empty(), s.reserveRefusesMove("b1", "hvC"));
        // b1 to hvA: hvA's ssd room falls to 8 GiB, 12 missing.
        assertEquals(Optional.of("after this move, hvC's 2 Ceph-backed VMs (20.0 GiB, 4 vCPUs) could not all restart"
                + " elsewhere: its ssd VMs need 20.0 GiB and 4 vCPUs, the other ready hosts serving ssd have 8.0 GiB and"
                + " 124 vCPUs free"), s.reserveRefusesMove("b1", "hvA"));
    }

    @Test
    void withoutThePolicyTheSameCreateIsPlaced() {
        Scheduler s = tightFleet(N_PLUS_ONE.withNPlusOne(false));
        assertTrue(s.place(vm("big", 12 * GIB, null)).placed());
    }

    /**
     * hvA (all tiers) keeps 16 GiB free beside a raw-disk VM; hvB serves only sata and raw and holds an 8 GiB sata
     * VM; hvC holds a 16 GiB ssd VM, which only hvA could restart.
     */
    private static Scheduler moveFleet(Policy policy) {
        Scheduler s = scheduler(policy, host("hvA", 32 * GIB, Fleets.ALL_TIERS),
                host("hvB", 32 * GIB, Set.of(SATA, RAW)), host("hvC", 32 * GIB, Fleets.ALL_TIERS));
        put(s, "hvA", "files", 16 * GIB, RAW);
        put(s, "hvC", "c1", 16 * GIB, SSD);
        put(s, "hvB", "b1", 8 * GIB, SATA);
        return s;
    }

    @Test
    void aMoveThatTakesTheOnlyRoomOfTheRightTierIsRefused() {
        Scheduler s = moveFleet(N_PLUS_ONE);
        // b1 to hvA leaves hvA 8 GiB: hvC's ssd VM has nowhere to go (hvB serves no ssd).
        assertEquals(Optional.of("after this move, hvC's 1 Ceph-backed VM (16.0 GiB, 2 vCPUs) could not all restart"
                + " elsewhere: its ssd VMs need 16.0 GiB and 2 vCPUs, the other ready hosts serving ssd have 8.0 GiB and"
                + " 124 vCPUs free"), s.reserveRefusesMove("b1", "hvA"));
        // b1 to hvC: should hvC be lost, c1 restarts on hvA and b1 on hvB.
        assertEquals(Optional.empty(), s.reserveRefusesMove("b1", "hvC"));
        assertEquals(Optional.empty(), s.reserveRefusesMove("b1", "hvB"), "staying where it is changes nothing");
        assertEquals(Optional.empty(), moveFleet(N_PLUS_ONE.withNPlusOne(false)).reserveRefusesMove("b1", "hvA"),
                "without the policy nothing is refused");
    }

    @Test
    void capacityWithTheReserveStopsWhereCreatesWouldBeRefused() {
        // tightFleet: only 4 GiB more fit while keeping the reserve (see aCreateThatLeavesJustEnoughRoomIsAccepted),
        // and it goes to hv3; without the reserve, 24 + 16 + 28 GiB hold 17 VMs of 4 GiB (6 + 4 + 7).
        for (Policy policy : List.of(N_PLUS_ONE, N_PLUS_ONE.withNPlusOne(false))) {
            Scheduler s = tightFleet(policy);
            Capacity plain = s.capacity(vm("probe", 4 * GIB, null), false);
            assertEquals(17, plain.total());
            Capacity kept = s.capacity(vm("probe", 4 * GIB, null), true);
            assertEquals(1, kept.total());
            assertTrue(kept.nPlusOne());
            Capacity.OnHost hv3 = kept.hosts().get(0);
            assertEquals("hv3", hv3.host());
            assertEquals(1, hv3.fits());
            assertEquals("n-plus-one", hv3.limit());
            assertEquals("after a 2nd here, hv2's 5 Ceph-backed VMs (48.0 GiB, 10 vCPUs) could not all restart"
                    + " elsewhere: 44.0 GiB of memory free on the other ready hosts (48.0 GiB needed)", hv3.reason());
        }
    }
}
