package io.virtfleet.controller.scheduler;

import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;

/**
 * What placement needs to know about a VM: its size and its constraints. Built from a validated spec.
 *
 * @param failoverAddress the failover IP the VM uses, or null for a LAN VM
 * @param spreadGroup     anti-affinity group, or null
 * @param pinnedHost      the host the operator insists on, or null
 */
public record Request(String vmName, long memoryBytes, int vcpus, StorageTier storage, long diskBytes,
                      String failoverAddress, String spreadGroup, String pinnedHost, boolean needsInstaller) {

    /** A request that needs no installer files on its host. */
    public Request(String vmName, long memoryBytes, int vcpus, StorageTier storage, long diskBytes,
                   String failoverAddress, String spreadGroup, String pinnedHost) {
        this(vmName, memoryBytes, vcpus, storage, diskBytes, failoverAddress, spreadGroup, pinnedHost, false);
    }

    /** The same request for a VM that boots the Debian installer from its host (boot-mode kernel). */
    public Request withInstaller() {
        return new Request(vmName, memoryBytes, vcpus, storage, diskBytes, failoverAddress, spreadGroup, pinnedHost, true);
    }

    /** The request of a spec as an operator asks for it (a failover IP's virtual MAC may be still to come). */
    public static Request of(VmSpec spec) {
        VmSpec s = VmSpecs.validateRequest(spec);
        return new Request(s.getName(), s.getMemoryBytes(), s.getVcpus(), s.getStorage(), s.getDiskBytes(),
                s.getNetwork().hasFailover() ? s.getNetwork().getFailover().getAddress() : null,
                s.getSpreadGroup().isEmpty() ? null : s.getSpreadGroup(),
                s.getPinnedHost().isEmpty() ? null : s.getPinnedHost());
    }

    /** Bytes this VM takes in its host's images directory: the disk for raw, nothing for Ceph tiers. */
    public long rawBytes() {
        return storage == StorageTier.STORAGE_TIER_RAW ? diskBytes : 0;
    }
}
