package io.virtfleet.controller.scheduler;

import io.virtfleet.proto.v1.StorageTier;

/**
 * Capacity promised to one VM on one host, from the moment placement chose the host until the VM is deleted
 * (or its creation failed). Claims, not measurements, are what stops two concurrent creates from taking the
 * same free memory.
 *
 * @param spreadGroup anti-affinity group, or null
 * @param claimedAtUnixMs when the decision was made
 */
public record Claim(String vmName, String host, long memoryBytes, int vcpus, StorageTier storage, long rawBytes,
                    String spreadGroup, long claimedAtUnixMs) {

    static Claim of(Request r, String host, long nowUnixMs) {
        return new Claim(r.vmName(), host, r.memoryBytes(), r.vcpus(), r.storage(), r.rawBytes(), r.spreadGroup(),
                nowUnixMs);
    }
}
