package io.virtfleet.controller.scheduler;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.controller.scheduler.Fleets.idle;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** How many more VMs fit, on small fleets whose answers are worked out by hand in each test. */
class CapacityTest {
    private static final StorageTier SATA = StorageTier.STORAGE_TIER_SATA;
    private static final StorageTier SSD = StorageTier.STORAGE_TIER_SSD;
    private static final StorageTier RAW = StorageTier.STORAGE_TIER_RAW;

    private static Scheduler scheduler(Policy policy, HostSnapshot... hosts) {
        Scheduler s = new Scheduler(policy, Map.of(), ClaimBook.inMemory(), () -> 0L);
        for (HostSnapshot h : hosts) {
            s.update(h);
        }
        return s;
    }

    private static Request spec(long memory, int vcpus, StorageTier tier, long disk) {
        return new Request("probe", memory, vcpus, tier, disk, null, null, null);
    }

    private static Request on(String host, String vm, long memory, int vcpus, StorageTier tier) {
        return new Request(vm, memory, vcpus, tier, 10 * GIB, null, null, host);
    }

    private static Capacity.OnHost host(Capacity c, String name) {
        return c.hosts().stream().filter(h -> h.host().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void memoryRunsOutFirstAndTheReasonShowsTheNextVm() {
        // 64 GiB × 0.9 = 57.6 GiB may be promised; 8 GiB VMs: 7 fit (56 GiB), an 8th would make 64.
        // vCPUs: 16 threads × 4 = 64, 32 VMs of 2: not the limit.
        Scheduler s = scheduler(Policy.defaults(), idle("hv1", 16, 64 * GIB));
        Capacity c = s.capacity(spec(8 * GIB, 2, SATA, 20 * GIB), false);
        assertEquals(7, c.total());
        assertEquals(new Capacity.OnHost("hv1", 7, "memory",
                "the 8th would need 8.0 GiB: 56.0 GiB promised + 8.0 GiB > 57.6 GiB (64.0 GiB × 0.90)"), host(c, "hv1"));
    }

    @Test
    void vcpusRunOutFirstWithClaimsAndRunningVmsCounted() {
        // 4 threads × 4 = 16 vCPUs; a claim of 2 and a domain placement did not make (3 vCPUs, 1 GiB) leave 11:
        // 2 VMs of 4 vCPUs fit (8), a 3rd would make 17. Memory (256 GiB) is no limit.
        Scheduler s = scheduler(Policy.defaults(), new HostSnapshot("hv1", HostState.HOST_STATE_READY, 4, 256 * GIB,
                200 * GIB, 0, Fleets.ALL_TIERS, 500 * GIB, 500 * GIB,
                List.of(new HostSnapshot.RunningDomain("by-hand", GIB, 3)), false, Fleets.UNDERLAY, Fleets.PUBLIC));
        s.place(on("hv1", "web", 2 * GIB, 2, SATA));
        Capacity c = s.capacity(spec(2 * GIB, 4, SSD, 20 * GIB), false);
        assertEquals(2, c.total());
        assertEquals(new Capacity.OnHost("hv1", 2, "vcpus", "the 3rd would need 4 vCPUs: 13 promised + 4 > 16.0"
                + " (4 threads × 4.0)"), host(c, "hv1"));
    }

    @Test
    void aFractionalVcpuLimitIsRoundedDownAsTheFilterWould() {
        // 5 threads × 1.5 = 7.5 vCPUs: 3 VMs of 2 (6), a 4th would make 8 > 7.5.
        Policy policy = new Policy(0.9, 1.5, Policy.Strategy.SPREAD, 0.4, 0.4, 0.2);
        Scheduler s = scheduler(policy, idle("hv1", 5, 64 * GIB));
        assertEquals(3, s.capacity(spec(GIB, 2, SATA, 20 * GIB), false).total());
        for (int i = 0; i < 3; i++) {
            assertEquals("hv1", s.place(new Request("vm" + i, GIB, 2, SATA, 20 * GIB, null, null, null)).claim().host());
        }
        assertEquals("vcpus", s.place(new Request("vm3", GIB, 2, SATA, 20 * GIB, null, null, null)).explanation()
                .verdicts().get(0).failedFilter());
    }

    @Test
    void rawDisksAreLimitedByTheImagesDirectoryAndTheTierByWhoServesIt() {
        // hv1: 500 GiB images directory, 150 GiB promised to a raw disk: (500 - 150) / 100 = 3 more 100 GiB disks.
        // hv2: only 50 GiB free there, less than one disk. hv3 serves no raw tier.
        Scheduler s = scheduler(Policy.defaults(),
                Fleets.host("hv1", 32, 256 * GIB, 256 * GIB, 0, Fleets.ALL_TIERS, 300 * GIB, 500 * GIB),
                Fleets.host("hv2", 32, 256 * GIB, 256 * GIB, 0, Fleets.ALL_TIERS, 50 * GIB, 500 * GIB),
                Fleets.host("hv3", 32, 256 * GIB, 256 * GIB, 0, Set.of(SSD, SATA), 500 * GIB, 500 * GIB));
        s.place(new Request("old", GIB, 1, RAW, 150 * GIB, null, null, "hv1"));
        Capacity c = s.capacity(spec(GIB, 1, RAW, 100 * GIB), false);
        assertEquals(3, c.total());
        assertEquals(List.of(
                new Capacity.OnHost("hv1", 3, "raw-space", "the 4th would need 100.0 GiB: 450.0 GiB promised to raw"
                        + " disks + 100.0 GiB > 500.0 GiB in the images directory"),
                new Capacity.OnHost("hv2", 0, "raw-space", "needs 100.0 GiB for the raw disk, 50.0 GiB free in the images"
                        + " directory"),
                new Capacity.OnHost("hv3", 0, "storage", "does not serve storage tier raw (serves: sata, ssd)")), c.hosts());
    }

    @Test
    void aDrainingOrUnreachableHostCountsNoneWithItsState() {
        // Each host alone would take 7 VMs of 8 GiB (see memoryRunsOutFirst...).
        Scheduler s = scheduler(Policy.defaults(), idle("hv1", 16, 64 * GIB), idle("hv2", 16, 64 * GIB),
                idle("hv3", 16, 64 * GIB));
        s.setState("hv2", HostState.HOST_STATE_DRAINING);
        s.setState("hv3", HostState.HOST_STATE_UNREACHABLE);
        Capacity c = s.capacity(spec(8 * GIB, 2, SATA, 20 * GIB), false);
        assertEquals(7, c.total());
        assertEquals(new Capacity.OnHost("hv2", 0, "state", "host is draining, only ready hosts take new VMs"),
                host(c, "hv2"));
        assertEquals(new Capacity.OnHost("hv3", 0, "state", "host is unreachable, only ready hosts take new VMs"),
                host(c, "hv3"));
        assertEquals(List.of("hv1", "hv2", "hv3"), c.hosts().stream().map(Capacity.OnHost::host).toList(),
                "the hosts that take the most first, then by name");
    }

    @Test
    void aSpreadGroupAllowsOnePerHostWithoutAMember() {
        Scheduler s = scheduler(Policy.defaults(), idle("hv1", 16, 64 * GIB), idle("hv2", 16, 64 * GIB),
                idle("hv3", 16, 64 * GIB));
        s.place(new Request("api1", GIB, 1, SATA, GIB, null, "api", "hv2"));
        Capacity c = s.capacity(new Request("api2", GIB, 1, SATA, GIB, null, "api", null), false);
        assertEquals(2, c.total());
        assertEquals(new Capacity.OnHost("hv1", 1, "spread-group", "one VM of spread group api per host"), host(c, "hv1"));
        assertEquals("spread-group", host(c, "hv2").limit());
        assertEquals(0, host(c, "hv2").fits());
    }

    @Test
    void withEqualLimitsTheFirstFilterInPlacementsOrderIsNamed() {
        // 8 threads × 4 = 32 vCPUs and 64 GiB × 0.9 = 57.6 GiB: 4 VMs of 8 vCPUs and 14 GiB each, both end at 4.
        Scheduler s = scheduler(Policy.defaults(), idle("hv1", 8, 64 * GIB));
        Capacity.OnHost h = host(s.capacity(spec(14 * GIB, 8, SATA, GIB), false), "hv1");
        assertEquals(4, h.fits());
        assertEquals("memory", h.limit());
    }

    /** Three idle hosts of 128 GiB keeping the reserve: a count of 1 GiB VMs plays a few hundred decisions. */
    private static Scheduler roomyFleet() {
        return scheduler(Policy.defaults().withNPlusOne(true), idle("hv1", 64, 128 * GIB), idle("hv2", 64, 128 * GIB),
                idle("hv3", 64, 128 * GIB));
    }

    @Test
    void aCountKeepingTheReserveStopsWhenAsked() {
        Scheduler s = roomyFleet();
        Request probe = spec(GIB, 1, SATA, 10 * GIB);
        long all = s.capacity(probe, true).total();
        assertTrue(all > 128, "enough decisions to be asked more than once: " + all);
        AtomicInteger asked = new AtomicInteger();
        // The caller hangs up after the count asked once: it stops at the next question, 64 decisions on.
        assertThrows(CancellationException.class, () -> s.capacity(probe, true, () -> asked.incrementAndGet() > 1));
        assertEquals(2, asked.get());
        assertEquals(all, s.capacity(probe, true).total(), "a stopped count leaves nothing behind");
    }

    @Test
    void oneCountKeepingTheReserveAtATime() throws Exception {
        Scheduler s = roomyFleet();
        Request probe = spec(GIB, 1, SATA, 10 * GIB);
        CountDownLatch counting = new CountDownLatch(1);
        CountDownLatch goOn = new CountDownLatch(1);
        ExecutorService other = Executors.newSingleThreadExecutor();
        try {
            Future<Capacity> first = other.submit(() -> s.capacity(probe, true, () -> {
                counting.countDown();
                try {
                    goOn.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return false;
            }));
            counting.await();
            Scheduler.CountBusyException busy = assertThrows(Scheduler.CountBusyException.class,
                    () -> s.capacity(probe, true));
            assertEquals("another capacity count keeping the N+1 reserve is running (one at a time): try again when it"
                    + " ends", busy.getMessage());
            assertEquals(3 * 115, s.capacity(probe, false).total(), "a count without the reserve is not held up");
            goOn.countDown();
            long counted = first.get().total();
            assertEquals(s.capacity(probe, true).total(), counted, "the next count runs once the first ended");
        } finally {
            goOn.countDown();
            other.shutdownNow();
        }
    }
}
