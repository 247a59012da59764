package io.virtfleet.controller.scheduler;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.controller.scheduler.Fleets.idle;
import static io.virtfleet.controller.scheduler.Fleets.vm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Placement scenarios on small, readable fleets. */
class SchedulerTest {
    private static final StorageTier SATA = StorageTier.STORAGE_TIER_SATA;
    private static final StorageTier RAW = StorageTier.STORAGE_TIER_RAW;

    @TempDir
    Path dir;

    private static Scheduler scheduler(Policy policy, Map<String, String> routes, HostSnapshot... hosts) {
        Scheduler s = new Scheduler(policy, routes, ClaimBook.inMemory(), () -> 1_000L);
        for (HostSnapshot h : hosts) {
            s.update(h);
        }
        return s;
    }

    private static Scheduler scheduler(HostSnapshot... hosts) {
        return scheduler(Policy.defaults(), Map.of(), hosts);
    }

    /**
     * A host's report is taken while another thread holds the scheduler's lock (as a long decision does): the
     * heartbeat that brings it runs on a gRPC event loop and must not wait. The next decision sees it.
     */
    @Test
    // A deadlock guard, on its own thread: an update waiting for the lock would never return, nor heed an interrupt.
    @org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aReportIsTakenWithoutWaitingForTheLockAndTheNextDecisionSeesIt() throws Exception {
        Scheduler s = scheduler(Fleets.host("hv1", 16, 64 * GIB, 2 * GIB, 1.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = new Thread(() -> {
            synchronized (s) {
                holding.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        holder.start();
        holding.await();
        // Returns while the lock is held (an update that waited for the lock would deadlock here).
        s.update(Fleets.host("hv2", 16, 64 * GIB, 60 * GIB, 1.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        assertTrue(holder.isAlive(), "the lock is still held");
        release.countDown();
        holder.join();
        assertEquals("hv2", s.place(vm("a", 4 * GIB, 2, SATA, 20 * GIB)).claim().host());
        // A later report of the same host replaces an earlier one not applied yet: the latest wins.
        synchronized (s) {
            s.update(Fleets.host("hv2", 16, 64 * GIB, 1 * GIB, 1.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
            s.update(Fleets.host("hv2", 16, 64 * GIB, 50 * GIB, 1.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        }
        assertEquals("hv2", s.place(vm("b", 4 * GIB, 2, SATA, 20 * GIB)).claim().host());
    }

    @Test
    void spreadPutsEachNewVmOnTheLeastLoadedHost() {
        Scheduler s = scheduler(
                Fleets.host("hv1", 16, 64 * GIB, 20 * GIB, 12.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB),
                Fleets.host("hv2", 16, 64 * GIB, 60 * GIB, 1.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB),
                Fleets.host("hv3", 16, 64 * GIB, 40 * GIB, 6.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        assertEquals("hv2", s.place(vm("a", 4 * GIB, 2, SATA, 20 * GIB)).claim().host());
        // Round-robin emerges from the claims: hv2 now has less free, hv3 is next.
        List<String> placed = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            placed.add(s.place(vm("b" + i, 8 * GIB, 2, SATA, 20 * GIB)).claim().host());
        }
        assertTrue(placed.contains("hv3") && placed.contains("hv2"), placed.toString());
        assertFalse(placed.subList(0, 2).contains("hv1"), "the busiest host is not chosen first: " + placed);
    }

    @Test
    void packFillsTheFullestHostThatStillFits() {
        Policy pack = Policy.defaults().withStrategy(Policy.Strategy.PACK);
        Scheduler s = scheduler(pack, Map.of(), idle("hv1", 16, 64 * GIB), idle("hv2", 16, 64 * GIB));
        String first = s.place(vm("a", 8 * GIB, 2, SATA, 20 * GIB)).claim().host();
        for (int i = 0; i < 5; i++) {
            assertEquals(first, s.place(vm("b" + i, 8 * GIB, 2, SATA, 20 * GIB)).claim().host(), "packs onto " + first);
        }
        // 6 × 8 GiB = 48 GiB promised; 57.6 GiB is the limit: the next 16 GiB VM spills to the other host.
        String other = first.equals("hv1") ? "hv2" : "hv1";
        assertEquals(other, s.place(vm("big", 16 * GIB, 2, SATA, 20 * GIB)).claim().host());
    }

    @Test
    void whenMemoryIsFullTheErrorSaysSoWithTheNumbers() {
        Scheduler s = scheduler(idle("hv1", 16, 16 * GIB), idle("hv2", 16, 8 * GIB));
        Decision d = s.place(vm("db", 32 * GIB, 2, SATA, 20 * GIB));
        assertFalse(d.placed());
        Explanation e = d.explanation();
        assertNull(e.chosenHost());
        assertEquals(2, e.verdicts().size());
        Verdict hv1 = e.verdicts().get(0);
        assertEquals("memory", hv1.failedFilter());
        assertEquals("needs 32.0 GiB: 0 B promised + 32.0 GiB > 14.4 GiB (16.0 GiB × 0.90)", hv1.reason());
        NoHostFitsException ex = new NoHostFitsException("db", e);
        assertTrue(ex.getMessage().startsWith("no host fits VM db: memory: 2 hosts (hv1: needs 32.0 GiB"), ex.getMessage());
        assertTrue(s.claims().isEmpty(), "nothing claimed");
    }

    @Test
    void vcpuOvercommitIsBounded() {
        Scheduler s = scheduler(idle("hv1", 2, 64 * GIB)); // 2 threads × 4.0 = 8 vCPUs
        assertTrue(s.place(vm("a", GIB, 8, SATA, 20 * GIB)).placed());
        Verdict v = s.place(vm("b", GIB, 1, SATA, 20 * GIB)).explanation().verdicts().get(0);
        assertEquals("vcpus", v.failedFilter());
        assertEquals("needs 1 vCPUs: 8 promised + 1 > 8.0 (2 threads × 4.0)", v.reason());
    }

    @Test
    void aHostWithoutTheStorageTierIsSkipped() {
        Scheduler s = scheduler(
                Fleets.host("hv1", 64, 512 * GIB, 512 * GIB, 0, Set.of(RAW), 500 * GIB, 500 * GIB),
                Fleets.host("hv2", 8, 32 * GIB, 16 * GIB, 4, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        assertEquals("hv2", s.place(vm("a", GIB, 1, SATA, 20 * GIB)).claim().host());
        Verdict v = s.explain(vm("b", GIB, 1, SATA, 20 * GIB)).verdicts().stream()
                .filter(x -> x.host().equals("hv1")).findFirst().orElseThrow();
        assertEquals("storage", v.failedFilter());
        assertEquals("does not serve storage tier sata (serves: raw)", v.reason());
    }

    @Test
    void rawDisksMustFitTheImagesDirectoryAndAreNotOverPromised() {
        Scheduler s = scheduler(Fleets.host("hv1", 16, 64 * GIB, 64 * GIB, 0, Fleets.ALL_TIERS, 150 * GIB, 200 * GIB));
        Verdict tooBig = s.explain(vm("a", GIB, 1, RAW, 160 * GIB)).verdicts().get(0);
        assertEquals("raw-space", tooBig.failedFilter());
        assertEquals("needs 160.0 GiB for the raw disk, 150.0 GiB free in the images directory", tooBig.reason());
        assertTrue(s.place(vm("b", GIB, 1, RAW, 120 * GIB)).placed());
        // Sparse files: free space has not moved, but 120 + 100 GiB would exceed the 200 GiB directory.
        Verdict promised = s.place(vm("c", GIB, 1, RAW, 100 * GIB)).explanation().verdicts().get(0);
        assertEquals("needs 100.0 GiB: 120.0 GiB promised to raw disks + 100.0 GiB > 200.0 GiB in the images directory",
                promised.reason());
        assertTrue(s.place(vm("d", GIB, 1, SATA, 100 * GIB)).placed(), "Ceph disks do not use the images directory");
    }

    @Test
    void aFailoverIpPinsTheVmToTheHostItIsRoutedTo() {
        Scheduler s = scheduler(Policy.defaults(), Map.of("203.0.113.7", "hv3"),
                idle("hv1", 64, 512 * GIB), idle("hv2", 64, 512 * GIB),
                Fleets.host("hv3", 8, 32 * GIB, 8 * GIB, 7.5, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        Request www = new Request("www", 2 * GIB, 2, SATA, 40 * GIB, "203.0.113.7", null, null);
        Decision d = s.place(www);
        assertEquals("hv3", d.claim().host(), "the busy host, because the IP is routed there");
        Verdict hv1 = s.explain(new Request("www2", GIB, 1, SATA, GIB, "203.0.113.7", null, null)).verdicts().stream()
                .filter(v -> v.host().equals("hv1")).findFirst().orElseThrow();
        assertEquals("failover IP 203.0.113.7 is routed to hv3", hv1.reason());

        Decision unrouted = s.place(new Request("www3", GIB, 1, SATA, GIB, "198.51.100.9", null, null));
        assertFalse(unrouted.placed());
        assertTrue(unrouted.explanation().verdicts().get(0).reason().startsWith("failover IP 198.51.100.9 is not routed"));
    }

    @Test
    void withOvhsApiAFailoverVmGoesToTheLeastLoadedHostWithAServiceName() {
        // The IP may be routed anywhere: OVH's API moves it to the chosen host's server.
        Scheduler s = new Scheduler(Policy.defaults(), FailoverHosts.movable(java.util.Set.of("hv2", "hv3")),
                ClaimBook.inMemory(), () -> 1_000L);
        s.update(idle("hv1", 64, 512 * GIB));
        s.update(Fleets.host("hv2", 16, 64 * GIB, 60 * GIB, 1.0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        s.update(Fleets.host("hv3", 8, 32 * GIB, 8 * GIB, 7.5, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        Request www = new Request("www", 2 * GIB, 2, SATA, 40 * GIB, "203.0.113.7", null, null);
        Explanation e = s.explain(www);
        Decision d = s.place(www);
        assertEquals("hv2", d.claim().host(), "the idlest host with a service name (hv1 has none)");
        assertEquals(e.chosenHost(), d.claim().host(), "the decision agrees with the explanation");
        Verdict hv1 = e.verdicts().stream().filter(v -> v.host().equals("hv1")).findFirst().orElseThrow();
        assertEquals("failover", hv1.failedFilter());
        assertEquals("has no OVH service name, so failover IP 203.0.113.7 cannot be moved to it (add hv1=SERVICE_NAME"
                + " to the controller's ovh-services)", hv1.reason());
        assertEquals("hv3", s.place(new Request("www2", GIB, 1, SATA, GIB, "203.0.113.7", null, "hv3")).claim().host(),
                "pinned: that host, if it has a service name");
        assertFalse(s.place(new Request("www3", GIB, 1, SATA, GIB, "203.0.113.7", null, "hv1")).placed());
    }

    @Test
    void aVmInstalledByKernelBootGoesOnlyToAHostWithTheInstallersFiles() {
        HostSnapshot bare = idle("hv1", 64, 512 * GIB);
        HostSnapshot small = Fleets.host("hv2", 8, 32 * GIB, 8 * GIB, 7.5, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB);
        HostSnapshot withInstaller = small.withInstaller(true);
        Scheduler s = scheduler(bare, withInstaller);
        assertEquals("hv1", s.place(new Request("plain", GIB, 1, SATA, GIB, null, null, null)).claim().host(),
                "the idle big host wins without the installer");
        Request installed = new Request("web", GIB, 1, SATA, GIB, null, null, null).withInstaller();
        assertEquals("hv2", s.place(installed).claim().host(), "the only host with the installer's files");
        Verdict hv1 = s.explain(new Request("web2", GIB, 1, SATA, GIB, null, null, null).withInstaller()).verdicts()
                .stream().filter(v -> v.host().equals("hv1")).findFirst().orElseThrow();
        assertEquals("installer", hv1.failedFilter());
        assertTrue(hv1.reason().startsWith("has no Debian installer files"), hv1.reason());
    }

    @Test
    void aFailoverVmGoesOnlyToItsHostAndOnlyIfThatReportsAPublicAddress() {
        // The gateway of a failover-IP VM is its host's public address with .254: without one it has no network.
        HostSnapshot hv1 = idle("hv1", 64, 512 * GIB);
        Scheduler s = scheduler(Policy.defaults(), Map.of("203.0.113.7", "hv1"), hv1.withPublicAddress(""),
                idle("hv2", 64, 512 * GIB));
        Decision none = s.place(new Request("www", GIB, 1, SATA, GIB, "203.0.113.7", null, null));
        assertFalse(none.placed(), "never on a host without a public address");
        Verdict v = none.explanation().verdicts().stream().filter(x -> x.host().equals("hv1")).findFirst().orElseThrow();
        assertEquals("public-address", v.failedFilter());
        assertEquals("reports no public address, from which failover IP 203.0.113.7 gets its gateway (.254): set"
                + " public-address in its agent's configuration to the server's main public IPv4 address", v.reason());

        // A private (vRack) address is not trusted: its .254 is no gateway to the Internet.
        s.update(hv1.withPublicAddress("10.0.0.5"));
        v = s.place(new Request("www", GIB, 1, SATA, GIB, "203.0.113.7", null, null)).explanation().verdicts().get(0);
        assertEquals("public-address", v.failedFilter());
        assertTrue(v.reason().startsWith("reports a public address that is not trusted (public_address: \"10.0.0.5\""
                + " is not accepted; expected a public IPv4 address"), v.reason());

        s.update(hv1.withPublicAddress("51.38.12.4"));
        assertEquals("hv1", s.place(new Request("www", GIB, 1, SATA, GIB, "203.0.113.7", null, null)).claim().host());
    }

    @Test
    void aLanVmGoesOnlyToHostsThatCarryVxlan() {
        // hv1 is the idlest and biggest, but its agent has no vxlan-device: a LAN VM there would be undone.
        HostSnapshot hv1 = idle("hv1", 64, 512 * GIB).withVxlanAddress("");
        Scheduler s = scheduler(Policy.defaults(), Map.of("203.0.113.7", "hv1"), hv1,
                Fleets.host("hv2", 8, 32 * GIB, 8 * GIB, 7.5, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        for (int i = 0; i < 5; i++) {
            assertEquals("hv2", s.place(vm("db" + i, GIB, 1, SATA, GIB)).claim().host(), "the only host carrying LANs");
        }
        Verdict v = s.explain(vm("db", GIB, 1, SATA, GIB)).verdicts().stream().filter(x -> x.host().equals("hv1"))
                .findFirst().orElseThrow();
        assertEquals("lan", v.failedFilter());
        assertEquals("reports no VXLAN underlay address, so it carries no LAN: set vxlan-device in its agent's"
                + " configuration to the interface between the hypervisors, with an IPv4 address (or set"
                + " vxlan-local-address)", v.reason());
        assertEquals("hv1", s.place(new Request("www", GIB, 1, SATA, GIB, "203.0.113.7", null, null)).claim().host(),
                "a failover-IP VM needs no VXLAN");

        s.update(hv1.withVxlanAddress("127.0.0.1")); // not an address other hosts can reach
        assertEquals("lan", s.explain(vm("db", GIB, 1, SATA, GIB)).verdicts().stream()
                .filter(x -> x.host().equals("hv1")).findFirst().orElseThrow().failedFilter());
        s.update(hv1.withVxlanAddress("10.0.0.1"));
        assertEquals("hv1", s.place(vm("db9", GIB, 1, SATA, GIB)).claim().host(), "carries LANs now");
    }

    @Test
    void aHostThatCannotRunTheFleetCpuModelTakesNoVmAndTheReasonIsLibvirts() {
        // hv1 is the idlest and biggest, but an older CPU that joined after the fleet CPU model was computed.
        String why = "cannot run the fleet CPU model EPYC (3f2a9c01b2de): the CPU is incompatible with host CPU: Host CPU"
                + " does not provide required features: vaes; virtfleet cpu-model --recompute lowers the model to what the"
                + " ready hosts run";
        HostSnapshot hv1 = idle("hv1", 64, 512 * GIB).withCpuProblem(why);
        Scheduler s = scheduler(hv1, Fleets.host("hv2", 8, 32 * GIB, 8 * GIB, 7.5, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB));
        for (int i = 0; i < 5; i++) {
            assertEquals("hv2", s.place(vm("db" + i, GIB, 1, SATA, GIB)).claim().host(), "the only host running the model");
        }
        Verdict v = s.explain(vm("db", GIB, 1, SATA, GIB)).verdicts().stream().filter(x -> x.host().equals("hv1"))
                .findFirst().orElseThrow();
        assertEquals("cpu-model", v.failedFilter());
        assertEquals(why, v.reason());
        Decision pinned = s.place(new Request("pinned", GIB, 1, SATA, GIB, null, null, "hv1"));
        assertFalse(pinned.placed(), "not even when the operator names it");
        assertEquals(why, pinned.explanation().verdicts().stream().filter(x -> x.host().equals("hv1")).findFirst()
                .orElseThrow().reason());

        s.update(hv1.withCpuProblem("")); // the model was lowered, or the host's CPU replaced
        assertEquals("hv1", s.place(vm("db9", GIB, 1, SATA, GIB)).claim().host(), "runs the model now");
    }

    @Test
    void aPinnedVmGoesToItsHostOrNowhere() {
        Scheduler s = scheduler(idle("hv1", 64, 512 * GIB), idle("hv2", 4, 8 * GIB));
        assertEquals("hv2", s.place(new Request("db", 2 * GIB, 1, SATA, GIB, null, null, "hv2")).claim().host());
        Decision tooBig = s.place(new Request("db2", 16 * GIB, 1, SATA, GIB, null, null, "hv2"));
        assertFalse(tooBig.placed(), "never silently moved to another host");
        Decision unknown = s.place(new Request("db3", GIB, 1, SATA, GIB, null, null, "hv9"));
        assertEquals("the VM is pinned to hv9, which is not a known host", unknown.explanation().verdicts().get(0).reason());
    }

    @Test
    void membersOfASpreadGroupNeverShareAHost() {
        Scheduler s = scheduler(idle("hv1", 16, 64 * GIB), idle("hv2", 16, 64 * GIB), idle("hv3", 16, 64 * GIB));
        List<String> hosts = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            hosts.add(s.place(new Request("api" + i, GIB, 1, SATA, GIB, null, "api", null)).claim().host());
        }
        assertEquals(Set.of("hv1", "hv2", "hv3"), Set.copyOf(hosts));
        Decision fourth = s.place(new Request("api3", GIB, 1, SATA, GIB, null, "api", null));
        assertFalse(fourth.placed());
        assertEquals("spread-group", fourth.explanation().verdicts().get(0).failedFilter());
        s.release("api1");
        assertEquals(hosts.get(1), s.place(new Request("api3", GIB, 1, SATA, GIB, null, "api", null)).claim().host(),
                "a deleted member frees its host for the group");
    }

    @Test
    void onlyReadyHostsTakeVmsAndTheReasonSaysWhichState() {
        Scheduler s = scheduler(idle("hv1", 16, 64 * GIB), idle("hv2", 16, 64 * GIB));
        s.setState("hv1", HostState.HOST_STATE_UNREACHABLE);
        s.setState("hv2", HostState.HOST_STATE_DEGRADED);
        Decision d = s.place(vm("a", GIB, 1, SATA, GIB));
        assertFalse(d.placed());
        assertEquals("host is unreachable, only ready hosts take new VMs", d.explanation().verdicts().get(0).reason());
        assertEquals("host is degraded, only ready hosts take new VMs", d.explanation().verdicts().get(1).reason());
        s.setState("hv2", HostState.HOST_STATE_READY);
        assertEquals("hv2", s.place(vm("a", GIB, 1, SATA, GIB)).claim().host());
    }

    @Test
    void runningVmsPlacementDidNotPlaceStillCount() {
        Scheduler s = scheduler();
        s.update(new HostSnapshot("hv1", HostState.HOST_STATE_READY, 16, 64 * GIB, 10 * GIB, 0, Fleets.ALL_TIERS,
                GIB, GIB, List.of(new HostSnapshot.RunningDomain("handmade", 50 * GIB, 8)), false, Fleets.UNDERLAY, ""));
        Verdict v = s.place(vm("a", 8 * GIB, 1, SATA, GIB)).explanation().verdicts().get(0);
        assertEquals("needs 8.0 GiB: 50.0 GiB promised + 8.0 GiB > 57.6 GiB (64.0 GiB × 0.90)", v.reason());
        // Placed VMs are counted once: through their claim, not again when they show up running.
        s.update(idle("hv1", 16, 64 * GIB));
        assertTrue(s.place(vm("b", 8 * GIB, 2, SATA, GIB)).placed());
        s.update(new HostSnapshot("hv1", HostState.HOST_STATE_READY, 16, 64 * GIB, 50 * GIB, 0, Fleets.ALL_TIERS,
                GIB, GIB, List.of(new HostSnapshot.RunningDomain("b", 8 * GIB, 2)), false, Fleets.UNDERLAY, ""));
        assertEquals(8 * GIB, s.allocated("hv1")[0]);
        assertEquals(2, s.allocated("hv1")[1]);
    }

    @Test
    void aVmCannotBeClaimedTwice() {
        Scheduler s = scheduler(idle("hv1", 16, 64 * GIB));
        s.place(vm("a", GIB, 1, SATA, GIB));
        assertThrows(IllegalStateException.class, () -> s.place(vm("a", GIB, 1, SATA, GIB)));
    }

    @Test
    void oneHundredConcurrentCreatesNeverOvercommitAHost() throws Exception {
        // 4 hosts × 57.6 GiB usable: room for exactly 28 VMs of 8 GiB (7 per host); 100 ask at once.
        Scheduler s = scheduler(idle("hv1", 64, 64 * GIB), idle("hv2", 64, 64 * GIB), idle("hv3", 64, 64 * GIB),
                idle("hv4", 64, 64 * GIB));
        ExecutorService pool = Executors.newFixedThreadPool(16);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Decision>> results = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            String name = "vm" + i;
            results.add(pool.submit(() -> {
                go.await();
                return s.place(vm(name, 8 * GIB, 1, SATA, GIB));
            }));
        }
        go.countDown();
        int placed = 0;
        for (Future<Decision> f : results) {
            placed += f.get().placed() ? 1 : 0;
        }
        pool.shutdown();
        assertEquals(28, placed);
        for (String h : List.of("hv1", "hv2", "hv3", "hv4")) {
            assertEquals(7 * 8 * GIB, s.allocated(h)[0], h + " holds exactly 7 VMs");
        }
    }

    @Test
    void claimsSurviveARestartAndReleasesToo() throws Exception {
        Path journal = dir.resolve("claims");
        try (ClaimBook book = ClaimBook.open(journal)) {
            Scheduler s = new Scheduler(Policy.defaults(), Map.of(), book, () -> 42L);
            s.update(idle("hv1", 16, 64 * GIB));
            s.update(idle("hv2", 16, 64 * GIB));
            for (int i = 0; i < 5; i++) {
                assertTrue(s.place(new Request("vm" + i, 4 * GIB, 2, RAW, 10 * GIB, null, i == 0 ? "g" : null, null)).placed());
            }
            s.release("vm3");
        }
        try (ClaimBook book = ClaimBook.open(journal)) {
            Scheduler s = new Scheduler(Policy.defaults(), Map.of(), book, () -> 43L);
            assertEquals(4, s.claims().size());
            assertNull(s.claimOf("vm3"));
            Claim c = s.claimOf("vm0");
            assertNotNull(c);
            assertEquals(42L, c.claimedAtUnixMs());
            assertEquals("g", c.spreadGroup());
            long memory = s.allocated("hv1")[0] + s.allocated("hv2")[0];
            assertEquals(16 * GIB, memory, "the promised memory is back before any host reports");
            assertEquals(40 * GIB, s.allocated("hv1")[2] + s.allocated("hv2")[2]);
            // Hosts are unknown until they report again: nothing may be placed on them meanwhile.
            assertFalse(s.place(vm("x", GIB, 1, RAW, GIB)).placed());
        }
    }

    @Test
    void aRecordCutShortByAPowerLossIsIgnoredAndTheRestKept() throws Exception {
        Path journal = dir.resolve("claims");
        java.nio.file.Files.writeString(journal, "+ a hv1 1073741824 1 STORAGE_TIER_SATA 0 - 5\n+ b hv1 10737");
        try (ClaimBook book = ClaimBook.open(journal)) {
            assertEquals(1, book.size());
            assertNotNull(book.get("a"));
            assertNull(book.get("b"));
        }
    }

    @Test
    void aDamagedJournalIsReportedWithItsLine() throws Exception {
        Path journal = dir.resolve("claims");
        java.nio.file.Files.writeString(journal, "+ a hv1 1 1 STORAGE_TIER_SATA 0 - 5\nnonsense\n");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ClaimBook.open(journal));
        assertTrue(e.getMessage().endsWith("line 2 is not a claim record: nonsense"), e.getMessage());
    }
}
