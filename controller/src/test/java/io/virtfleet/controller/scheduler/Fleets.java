package io.virtfleet.controller.scheduler;

import static io.virtfleet.common.units.Bytes.GIB;

import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

/** Generated fleets and requests for placement tests and benchmarks. */
public final class Fleets {
    private Fleets() {}

    public static final Set<StorageTier> ALL_TIERS =
            Set.of(StorageTier.STORAGE_TIER_SSD, StorageTier.STORAGE_TIER_SATA, StorageTier.STORAGE_TIER_RAW);

    /** The VXLAN underlay address every generated host reports: they all carry LANs. */
    public static final String UNDERLAY = "10.0.0.2";
    /** The public address every generated host reports: they all take failover-IP VMs routed to them. */
    public static final String PUBLIC = "203.0.113.2";

    /** A ready host with no load and nothing running. */
    public static HostSnapshot idle(String name, int threads, long memory) {
        return host(name, threads, memory, memory, 0.0, ALL_TIERS, 500 * GIB, 500 * GIB);
    }

    public static HostSnapshot host(String name, int threads, long memoryTotal, long memoryAvailable, double load1,
                                    Set<StorageTier> tiers, long imagesFree, long imagesTotal) {
        return new HostSnapshot(name, HostState.HOST_STATE_READY, threads, memoryTotal, memoryAvailable, load1, tiers,
                imagesFree, imagesTotal, List.of(), false, UNDERLAY, PUBLIC);
    }

    /**
     * A varied fleet: 8 to 64 threads, 32 to 512 GiB, load from idle to busy, about one host in ten without
     * Ceph, one in twenty not ready; every host carries LANs and has a public address.
     */
    public static List<HostSnapshot> random(int hosts, long seed) {
        Random rnd = new Random(seed);
        List<HostSnapshot> out = new ArrayList<>(hosts);
        for (int i = 0; i < hosts; i++) {
            int threads = 8 << rnd.nextInt(4);
            long memory = (32L << rnd.nextInt(5)) * GIB;
            long available = (long) (memory * (0.2 + 0.8 * rnd.nextDouble()));
            double load = threads * rnd.nextDouble() * 1.2;
            Set<StorageTier> tiers = rnd.nextInt(10) == 0 ? Set.of(StorageTier.STORAGE_TIER_RAW) : ALL_TIERS;
            long imagesTotal = (200L + rnd.nextInt(2000)) * GIB;
            long imagesFree = (long) (imagesTotal * rnd.nextDouble());
            HostState state = rnd.nextInt(20) == 0 ? HostState.HOST_STATE_UNREACHABLE : HostState.HOST_STATE_READY;
            out.add(new HostSnapshot(String.format("hv%05d", i), state, threads, memory, available, load, tiers,
                    imagesFree, imagesTotal, List.of(), false, UNDERLAY, PUBLIC));
        }
        return out;
    }

    public static Request vm(String name, long memory, int vcpus, StorageTier storage, long disk) {
        return new Request(name, memory, vcpus, storage, disk, null, null, null);
    }

    public static Request randomVm(String name, Random rnd) {
        StorageTier tier = StorageTier.forNumber(1 + rnd.nextInt(3));
        return new Request(name, (1L << rnd.nextInt(6)) * GIB, 1 << rnd.nextInt(4), tier, (10L + rnd.nextInt(200)) * GIB,
                null, rnd.nextInt(4) == 0 ? "group" + rnd.nextInt(3) : null, null);
    }
}
