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
 * @param vxlanAddress   the VXLAN underlay address the host reports, as reported ("" when none): only a host
 *                       with a valid one carries LANs
 * @param publicAddress  the public IPv4 address the host reports, as reported ("" when none): only a host with
 *                       a valid one takes failover-IP VMs, whose gateway is derived from it
 * @param cpuProblem     why the host cannot run the fleet CPU model, "" when it can (or there is none): only a host
 *                       that can takes VMs, whose definitions name the model
 */
public record HostSnapshot(String name, HostState state, int threads, long memoryTotal, long memoryAvailable,
                           double load1, Set<StorageTier> tiers, long imagesFree, long imagesTotal,
                           List<RunningDomain> runningDomains, boolean installer, String vxlanAddress,
                           String publicAddress, String cpuProblem) {

    /** A running domain's size, as libvirt reports it. */
    public record RunningDomain(String name, long memoryBytes, int vcpus) {}

    public HostSnapshot {
        tiers = Set.copyOf(tiers);
        runningDomains = List.copyOf(runningDomains);
        vxlanAddress = vxlanAddress == null ? "" : vxlanAddress;
        publicAddress = publicAddress == null ? "" : publicAddress;
        cpuProblem = cpuProblem == null ? "" : cpuProblem;
    }

    /** A host that can run the fleet CPU model (or where there is none). */
    public HostSnapshot(String name, HostState state, int threads, long memoryTotal, long memoryAvailable,
                        double load1, Set<StorageTier> tiers, long imagesFree, long imagesTotal,
                        List<RunningDomain> runningDomains, boolean installer, String vxlanAddress, String publicAddress) {
        this(name, state, threads, memoryTotal, memoryAvailable, load1, tiers, imagesFree, imagesTotal, runningDomains,
                installer, vxlanAddress, publicAddress, "");
    }

    /** The same host with this verdict on the fleet CPU model ("" when it can run it). */
    public HostSnapshot withCpuProblem(String problem) {
        return new HostSnapshot(name, state, threads, memoryTotal, memoryAvailable, load1, tiers, imagesFree,
                imagesTotal, runningDomains, installer, vxlanAddress, publicAddress, problem);
    }

    /** The same host with or without the installer's files. */
    public HostSnapshot withInstaller(boolean present) {
        return new HostSnapshot(name, state, threads, memoryTotal, memoryAvailable, load1, tiers, imagesFree,
                imagesTotal, runningDomains, present, vxlanAddress, publicAddress, cpuProblem);
    }

    /** The same host reporting this VXLAN underlay address ("" for none). */
    public HostSnapshot withVxlanAddress(String address) {
        return new HostSnapshot(name, state, threads, memoryTotal, memoryAvailable, load1, tiers, imagesFree,
                imagesTotal, runningDomains, installer, address, publicAddress, cpuProblem);
    }

    /** The same host reporting this public address ("" for none). */
    public HostSnapshot withPublicAddress(String address) {
        return new HostSnapshot(name, state, threads, memoryTotal, memoryAvailable, load1, tiers, imagesFree,
                imagesTotal, runningDomains, installer, vxlanAddress, address, cpuProblem);
    }

    /** The same host with another load, as its next report might say. */
    public HostSnapshot withLoad(double load) {
        return new HostSnapshot(name, state, threads, memoryTotal, memoryAvailable, load, tiers, imagesFree,
                imagesTotal, runningDomains, installer, vxlanAddress, publicAddress, cpuProblem);
    }
}
