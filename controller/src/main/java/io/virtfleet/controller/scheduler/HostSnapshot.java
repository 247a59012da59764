package io.virtfleet.controller.scheduler;

import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.List;
import java.util.Set;

/**
 * One host as placement sees it: what its agent last measured and reported. Capacity promised to VMs comes
 * from the claims, not from here.
 *
 * @param state          ready hosts take new VMs; draining, degraded and unreachable ones do not
 * @param threads        hardware threads
 * @param tiers          storage tiers the host serves
 * @param imagesFree     free bytes in the host's images directory (raw disks)
 * @param imagesTotal    size of that directory's file system
 * @param runningDomains domains running on the host, to count VMs placement did not put there
 * @param installer      whether the host has the Debian installer's files, which VMs installed by direct kernel
 *                       boot need
 */
public record HostSnapshot(String name, HostState state, int threads, long memoryTotal, long memoryAvailable,
                           double load1, Set<StorageTier> tiers, long imagesFree, long imagesTotal,
                           List<RunningDomain> runningDomains, boolean installer) {

    /** A host without the installer's files. */
    public HostSnapshot(String name, HostState state, int threads, long memoryTotal, long memoryAvailable,
                        double load1, Set<StorageTier> tiers, long imagesFree, long imagesTotal,
                        List<RunningDomain> runningDomains) {
        this(name, state, threads, memoryTotal, memoryAvailable, load1, tiers, imagesFree, imagesTotal, runningDomains, false);
    }

    /** A running domain's size, as libvirt reports it. */
    public record RunningDomain(String name, long memoryBytes, int vcpus) {}

    public HostSnapshot {
        tiers = Set.copyOf(tiers);
        runningDomains = List.copyOf(runningDomains);
    }
}
