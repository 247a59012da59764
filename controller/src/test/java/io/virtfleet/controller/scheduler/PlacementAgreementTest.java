package io.virtfleet.controller.scheduler;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * On generated fleets, the fast decision and the explanation agree on every request, the choice is the best
 * fitting host (highest score, ties by name) as the explanation's verdicts say host by host, and no sequence of
 * decisions ever promises a host more than its limits. The decision skips hosts its index says cannot win, so
 * the fleets here also hold what the index must get right: ties, hosts changing state, forgotten and back,
 * hosts with no memory or odd numbers, more kinds of server than the index has shapes for, full fleets; and
 * hosts with and without a VXLAN underlay or a public address (some reported but not to be trusted), with LAN
 * and failover-IP requests.
 */
class PlacementAgreementTest {
    private static final List<Policy> POLICIES =
            List.of(Policy.defaults(), Policy.defaults().withStrategy(Policy.Strategy.PACK));

    @Test
    void theDecisionIsAlwaysTheExplanationsBestFittingHost() {
        for (long seed = 1; seed <= 20; seed++) {
            for (Policy policy : POLICIES) {
                Random rnd = new Random(seed);
                List<HostSnapshot> fleet = new ArrayList<>();
                for (HostSnapshot h : Fleets.random(5 + rnd.nextInt(60), seed)) {
                    // Some hosts carry no LAN, some have no public address (or report ones not to be trusted), some
                    // cannot run the fleet CPU model.
                    fleet.add(h.withVxlanAddress(List.of(Fleets.UNDERLAY, Fleets.UNDERLAY, Fleets.UNDERLAY, "", "127.0.0.1")
                            .get(rnd.nextInt(5))).withPublicAddress(List.of(Fleets.PUBLIC, Fleets.PUBLIC, "", "10.0.0.5")
                            .get(rnd.nextInt(4))).withCpuProblem(rnd.nextInt(5) == 0 ? "cannot run the fleet CPU model" : ""));
                }
                Map<String, String> routes = routes(fleet.stream().map(HostSnapshot::name).toList(), rnd);
                Scheduler s = new Scheduler(policy, routes, ClaimBook.inMemory(), () -> 0L);
                fleet.forEach(s::update);
                Map<String, HostSnapshot> byName = new HashMap<>();
                fleet.forEach(h -> byName.put(h.name(), h));
                for (int i = 0; i < 300; i++) {
                    Request r = Fleets.randomVm("vm" + i, rnd);
                    if (rnd.nextInt(6) == 0) {
                        r = failover(r, List.copyOf(routes.keySet()).get(rnd.nextInt(routes.size())));
                    }
                    String where = "seed " + seed + " " + policy.strategy() + " request " + r;
                    Decision d = placeAndCheck(s, r, where);
                    if (d.placed()) {
                        HostSnapshot h = byName.get(d.claim().host());
                        assertEquals(HostState.HOST_STATE_READY, h.state(), where);
                        assertTrue(h.tiers().contains(r.storage()), where);
                        assertEquals("", h.cpuProblem(), "only on a host that runs the fleet CPU model: " + where);
                        if (r.failoverAddress() == null) {
                            assertEquals(Fleets.UNDERLAY, h.vxlanAddress(), "a LAN VM on a host carrying LANs: " + where);
                        } else {
                            assertEquals(routes.get(r.failoverAddress()), h.name(), where);
                            assertEquals(Fleets.PUBLIC, h.publicAddress(), "a failover VM on a host with a public"
                                    + " address: " + where);
                        }
                    }
                    if (rnd.nextInt(5) == 0) {
                        s.release("vm" + rnd.nextInt(i + 1)); // deletions free capacity as the fleet lives
                    }
                }
                for (HostSnapshot h : fleet) {
                    long[] promised = s.allocated(h.name());
                    assertTrue(promised[0] <= Fit.memoryLimit(h.memoryTotal(), policy.memoryRatio()), h.name() + " memory");
                    assertTrue(promised[1] <= Fit.vcpuLimit(h.threads(), policy.vcpuOvercommit()), h.name() + " vCPUs");
                    assertTrue(promised[2] <= h.imagesTotal(), h.name() + " raw");
                }
                Map<String, Map<String, Integer>> groups = new HashMap<>();
                for (Claim c : s.claims()) {
                    if (c.spreadGroup() != null) {
                        int n = groups.computeIfAbsent(c.spreadGroup(), g -> new HashMap<>()).merge(c.host(), 1, Integer::sum);
                        assertEquals(1, n, "two members of " + c.spreadGroup() + " on " + c.host());
                    }
                }
            }
        }
    }

    @Test
    void amongHostsWithTheSameScoreTheFirstByNameWins() {
        // Identical idle hosts, added out of name order: every decision is a tie that only the name breaks.
        for (Policy policy : POLICIES) {
            List<HostSnapshot> fleet = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                fleet.add(Fleets.host(String.format("twin%02d", i), 16, 64 * GIB, 48 * GIB, 4.0, Fleets.ALL_TIERS,
                        500 * GIB, 500 * GIB));
            }
            Collections.shuffle(fleet, new Random(3));
            Scheduler s = new Scheduler(policy, Map.of(), ClaimBook.inMemory(), () -> 0L);
            fleet.forEach(s::update);
            Decision first = placeAndCheck(s, Fleets.vm("a", 4 * GIB, 2, StorageTier.STORAGE_TIER_SSD, GIB), policy.strategy() + " first");
            assertEquals("twin00", first.claim().host());
            for (int i = 0; i < 200; i++) {
                placeAndCheck(s, Fleets.vm("b" + i, 2 * GIB, 1, StorageTier.STORAGE_TIER_SATA, GIB), policy.strategy() + " b" + i);
            }
        }
    }

    @Test
    void aTieAcrossShapesRightAtABucketsEdgeIsStillSeen() {
        // Two hosts of different shapes (64 and 32 GiB, a quarter in use each) with the same load per thread
        // tie exactly for an empty request, which moves no score. With the default weights their score is
        // 0.4 × (1 - load / 16) + 0.4 × (1 - 0.125) + 0.2 = 0.95 - 0.025 × load: the bucket edge 0.75 at load
        // 8, and loads a few hundredths of a billionth either side put it just below or just above the edge.
        // Each shape is given the first name in turn, so that whichever the walk visits first, the other is
        // found only if the bound of its bucket is not a hair too low.
        Request empty = Fleets.vm("a", 0, 0, StorageTier.STORAGE_TIER_SSD, 0);
        for (boolean bigFirst : new boolean[] {true, false}) {
            for (int step = -40; step <= 40; step++) {
                double load = 8.0 + step * 1e-11;
                Scheduler s = new Scheduler(Policy.defaults(), Map.of(), ClaimBook.inMemory(), () -> 0L);
                s.update(Fleets.host(bigFirst ? "hv1" : "hv2", 16, 64 * GIB, 48 * GIB, load, Fleets.ALL_TIERS, 500 * GIB,
                        500 * GIB));
                s.update(Fleets.host(bigFirst ? "hv2" : "hv1", 16, 32 * GIB, 24 * GIB, load, Fleets.ALL_TIERS, 500 * GIB,
                        500 * GIB));
                assertEquals("hv1", placeAndCheck(s, empty, "load " + load).claim().host(), "load " + load);
            }
        }
    }

    @Test
    void hostsChangingStateComingAndGoingAndOddNumbersNeverMisleadTheDecision() {
        for (long seed = 1; seed <= 12; seed++) {
            for (Policy policy : POLICIES) {
                Random rnd = new Random(seed);
                List<String> names = new ArrayList<>();
                for (int i = 0; i < 30 + rnd.nextInt(120); i++) {
                    names.add(String.format("hv%03d", rnd.nextInt(1000)));
                }
                Map<String, String> routes = routes(names, rnd);
                Scheduler s = new Scheduler(policy, routes, ClaimBook.inMemory(), () -> 0L);
                for (String name : names) {
                    s.update(oddHost(name, rnd));
                }
                List<String> placed = new ArrayList<>();
                for (int op = 0; op < 600; op++) {
                    String host = names.get(rnd.nextInt(names.size()));
                    switch (rnd.nextInt(8)) {
                        case 0 -> s.update(oddHost(host, rnd)); // a new report: other numbers, maybe another shape
                        case 1 -> s.setState(host, HostState.forNumber(1 + rnd.nextInt(4)));
                        case 2 -> s.forget(host);
                        case 3 -> {
                            if (!placed.isEmpty()) {
                                s.release(placed.remove(rnd.nextInt(placed.size())));
                            }
                        }
                        default -> {
                            Request r = oddRequest("vm" + op, rnd, names, List.copyOf(routes.keySet()));
                            String where = "seed " + seed + " " + policy.strategy() + " op " + op + " " + r;
                            if (placeAndCheck(s, r, where).placed()) {
                                placed.add(r.vmName());
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void moreKindsOfServerThanTheIndexHasShapesForAreStillJudgedExactly() {
        for (Policy policy : POLICIES) {
            Random rnd = new Random(5);
            Scheduler s = new Scheduler(policy, Map.of(), ClaimBook.inMemory(), () -> 0L);
            for (int i = 0; i < 3 * BoundIndex.MAX_SHAPES; i++) {
                // Every host a memory size of its own.
                s.update(Fleets.host(String.format("hv%03d", i), 8 << rnd.nextInt(4), (16 + i) * GIB,
                        (long) ((16 + i) * GIB * rnd.nextDouble()), 10 * rnd.nextDouble(), Fleets.ALL_TIERS, 500 * GIB,
                        500 * GIB));
            }
            for (int i = 0; i < 250; i++) {
                placeAndCheck(s, Fleets.randomVm("vm" + i, rnd), policy.strategy() + " vm" + i);
            }
        }
    }

    @Test
    void aFullFleetPlacesNothingAndSaysWhy() {
        for (Policy policy : POLICIES) {
            Scheduler s = new Scheduler(policy, Map.of(), ClaimBook.inMemory(), () -> 0L);
            Fleets.random(50, 9).forEach(s::update);
            int placed = 0;
            for (int i = 0; ; i++) {
                Decision d = placeAndCheck(s, Fleets.vm("vm" + i, 8 * GIB, 2, StorageTier.STORAGE_TIER_RAW, GIB),
                        policy.strategy() + " vm" + i);
                if (!d.placed()) {
                    assertNotNull(d.explanation());
                    break;
                }
                placed++;
            }
            assertTrue(placed > 50, "placed " + placed);
            placeAndCheck(s, Fleets.vm("small", GIB, 1, StorageTier.STORAGE_TIER_RAW, GIB), "a smaller VM after that");
        }
    }

    @Test
    void aDecisionJudgesFewHostsOfABigFleet() {
        // That the index prunes at all (not how fast): the benchmark's fleet, a third full, judged host by host.
        int hosts = 2_000;
        Scheduler s = new Scheduler(Policy.defaults(), Map.of(), ClaimBook.inMemory(), () -> 0L);
        Fleets.random(hosts, 7).forEach(s::update);
        Random rnd = new Random(11);
        for (int i = 0; i < hosts * 3; i++) {
            s.place(Fleets.randomVm("existing" + i, rnd));
        }
        long before = s.hostsJudged();
        int decisions = 500;
        for (int i = 0; i < decisions; i++) {
            Request r = Fleets.randomVm("new" + i, rnd);
            if (s.place(r).placed()) {
                s.release(r.vmName());
            }
        }
        double perDecision = (s.hostsJudged() - before) / (double) decisions;
        assertTrue(perDecision < hosts / 10.0, perDecision + " hosts judged per decision out of " + hosts);
    }

    @Test
    void whenTheBestHostsAllFailAFilterTheWalkGivesUpAndStaysExact() {
        // Members of one spread group on two thirds of the hosts, the best ones (spread placed them): a new
        // member finds every host with a good bound taken, so the walk runs out of budget and every host is
        // judged instead, after what the walk found so far.
        int hosts = 1_500;
        Scheduler s = new Scheduler(Policy.defaults(), Map.of(), ClaimBook.inMemory(), () -> 0L);
        Fleets.random(hosts, 7).forEach(s::update);
        for (int i = 0; i < hosts * 2 / 3; i++) {
            s.place(new Request("member" + i, GIB, 1, StorageTier.STORAGE_TIER_RAW, GIB, null, "g", null));
        }
        long before = s.hostsJudged();
        int decisions = 40;
        for (int i = 0; i < decisions; i++) {
            Request r = new Request("new" + i, (1L << (i % 5)) * GIB, 1 + i % 4, StorageTier.forNumber(1 + i % 3), GIB,
                    null, "g", null);
            Decision d = placeAndCheck(s, r, r.toString());
            assertTrue(d.placed(), "a third of the hosts are still free of the group: " + r);
            s.release(r.vmName());
        }
        assertTrue(s.hostsJudged() - before > (long) decisions * hosts, "the walks gave up and judged every host");
    }

    /**
     * Places the request and checks the decision against the explanation made just before: the host is the one
     * whose verdict fits with the highest score (ties: the first name; a NaN score never wins), the verdict the
     * same, and the explanation names it first.
     */
    private static Decision placeAndCheck(Scheduler s, Request r, String where) {
        Explanation e = s.explain(r);
        Verdict expected = null;
        for (Verdict v : e.verdicts()) {
            if (v.fits() && !Double.isNaN(v.score()) && (expected == null || v.score() > expected.score()
                    || (v.score() == expected.score() && v.host().compareTo(expected.host()) < 0))) {
                expected = v;
            }
        }
        Decision d = s.place(r);
        String host = expected == null ? null : expected.host();
        assertEquals(host, e.chosenHost(), "explanation: " + where);
        assertEquals(host, d.placed() ? d.claim().host() : null, "decision: " + where);
        if (d.placed()) {
            assertEquals(expected, d.chosen(), where);
            assertEquals(expected, e.verdicts().get(0), "chosen host listed first: " + where);
        } else {
            assertEquals(e.verdicts(), d.explanation().verdicts(), where);
        }
        return d;
    }

    /** A host as agents may report it, now and then with numbers the scores must survive. */
    private static HostSnapshot oddHost(String name, Random rnd) {
        int threads = rnd.nextInt(10) == 0 ? 0 : 1 << rnd.nextInt(7);
        long memory = switch (rnd.nextInt(10)) {
            case 0 -> 0; // no memory reported
            case 1 -> GIB / 3;
            default -> (16L << rnd.nextInt(3)) * GIB; // few sizes: many hosts share a shape, and tie
        };
        long available = switch (rnd.nextInt(12)) {
            case 0 -> memory + GIB; // more available than the total
            case 1 -> -GIB;
            case 2 -> 0;
            default -> memory / 4 * rnd.nextInt(5);
        };
        double load = switch (rnd.nextInt(15)) {
            case 0 -> -1.0;
            case 1 -> 1000.0;
            default -> rnd.nextInt(4) * 0.5 * Math.max(1, threads);
        };
        List<Set<StorageTier>> tierSets = List.of(Fleets.ALL_TIERS, Set.of(StorageTier.STORAGE_TIER_RAW),
                Set.of(StorageTier.STORAGE_TIER_SSD, StorageTier.STORAGE_TIER_RAW), Set.of());
        Set<StorageTier> tiers = tierSets.get(rnd.nextInt(10) < 7 ? 0 : rnd.nextInt(tierSets.size()));
        List<HostSnapshot.RunningDomain> running = rnd.nextInt(6) == 0
                ? List.of(new HostSnapshot.RunningDomain("handmade-" + name, (1L + rnd.nextInt(64)) * GIB, 1 + rnd.nextInt(16)))
                : List.of();
        HostState state = rnd.nextInt(8) == 0 ? HostState.HOST_STATE_DRAINING : HostState.HOST_STATE_READY;
        long imagesTotal = (50L + rnd.nextInt(400)) * GIB;
        // Valid, missing and untrustworthy addresses: LAN and failover VMs must go only where they can work.
        String underlay = List.of(Fleets.UNDERLAY, Fleets.UNDERLAY, "", "0.0.0.0", "not-an-address").get(rnd.nextInt(5));
        String publicAddress = List.of(Fleets.PUBLIC, Fleets.PUBLIC, "", "192.168.1.10", "169.254.0.1").get(rnd.nextInt(5));
        return new HostSnapshot(name, state, threads, memory, available, load, tiers,
                (long) (imagesTotal * rnd.nextDouble()), imagesTotal, running, rnd.nextInt(3) != 0, underlay,
                publicAddress);
    }

    /** Failover IPs routed to a few of the hosts, and one routed to a host that never reports. */
    private static Map<String, String> routes(List<String> hosts, Random rnd) {
        Map<String, String> routes = new HashMap<>();
        for (int k = 0; k < 6; k++) {
            routes.put("198.51.100." + (k + 1), hosts.get(rnd.nextInt(hosts.size())));
        }
        routes.put("198.51.100.100", "hv-never-seen");
        return routes;
    }

    private static Request failover(Request r, String address) {
        return new Request(r.vmName(), r.memoryBytes(), r.vcpus(), r.storage(), r.diskBytes(), address, r.spreadGroup(),
                r.pinnedHost(), r.needsInstaller());
    }

    /**
     * Requests of the usual sizes, some empty, some too big for any host, some pinned, some needing the
     * installer, some failover-IP VMs (the others LAN VMs).
     */
    private static Request oddRequest(String vm, Random rnd, List<String> hosts, List<String> failoverIps) {
        StorageTier tier = StorageTier.forNumber(1 + rnd.nextInt(3));
        String group = rnd.nextInt(4) == 0 ? "group" + rnd.nextInt(3) : null;
        String pinned = rnd.nextInt(20) == 0 ? hosts.get(rnd.nextInt(hosts.size())) : null;
        Request r = switch (rnd.nextInt(12)) {
            case 0 -> new Request(vm, 0, 0, tier, 0, null, group, pinned);
            case 1 -> new Request(vm, 256 * GIB, 128, tier, 10 * GIB, null, group, pinned);
            case 2 -> new Request(vm, -GIB, 1, tier, 10 * GIB, null, group, pinned); // never from a valid spec
            default -> new Request(vm, (1L << rnd.nextInt(5)) * GIB / 2, 1 << rnd.nextInt(4), tier,
                    (1L + rnd.nextInt(100)) * GIB, null, group, pinned);
        };
        if (rnd.nextInt(5) == 0) { // a failover-IP VM, now and then with an address routed nowhere
            r = failover(r, rnd.nextInt(8) == 0 ? "192.0.2.99" : failoverIps.get(rnd.nextInt(failoverIps.size())));
        }
        return rnd.nextInt(4) == 0 ? r.withInstaller() : r; // a VM installed by direct kernel boot
    }
}
