package io.virtfleet.controller.scheduler;

import java.util.Arrays;

/**
 * Where the first fit of {@link Reserve} restarts one host's Ceph-backed VMs should that host be lost, as things
 * are: each VM in first-fit order with the host chosen for it, up to the first that found none. Kept by the
 * reserve until a change could alter it, which the methods here tell: first fit takes each VM to the first host by
 * name with room for it, so a host whose room shrinks changes nothing unless the plan restarts more there than it
 * keeps, and a host whose room grows changes nothing unless a VM that passed it over would now fit.
 */
final class RestartPlan {
    /** The VMs in first-fit order. */
    final Claim[] vms;
    /** Per VM, the host (slot) chosen for it; -1 from {@link #failedAt} on. */
    final int[] chosen;
    /** Index of the first VM that found no host, or {@code vms.length} when every one did. */
    final int failedAt;
    /** The hosts the plan restarts VMs on (slots, ascending), and what it restarts on each. */
    final int[] hosts;
    final long[] memory;
    final long[] vcpus;

    /** Per host in {@link #hosts}, where the reserve lists this plan among that host's users (kept by the reserve). */
    final int[] userAt;

    RestartPlan(Claim[] vms, int[] chosen, int failedAt) {
        this.vms = vms;
        this.chosen = chosen;
        this.failedAt = failedAt;
        // The hosts in slot order, found by binary search: near a fleet's limit a plan may restart tens of VMs on as
        // many hosts, and a count keeping the reserve makes hundreds of thousands of plans.
        int[] sorted = Arrays.copyOf(chosen, failedAt);
        Arrays.sort(sorted);
        int count = 0;
        for (int j = 0; j < failedAt; j++) {
            if (count == 0 || sorted[count - 1] != sorted[j]) {
                sorted[count++] = sorted[j];
            }
        }
        this.hosts = Arrays.copyOf(sorted, count);
        this.memory = new long[count];
        this.vcpus = new long[count];
        for (int j = 0; j < failedAt; j++) {
            int k = indexOf(chosen[j]);
            memory[k] += vms[j].memoryBytes();
            vcpus[k] += vms[j].vcpus();
        }
        this.userAt = new int[count];
    }

    boolean fits() {
        return failedAt == vms.length;
    }

    /** The first VM that found no host, or null. */
    Claim homeless() {
        return fits() ? null : vms[failedAt];
    }

    /** Position of the host in {@link #hosts}, or -1 if the plan restarts nothing there. */
    int indexOf(int host) {
        int k = Arrays.binarySearch(hosts, host);
        return k < 0 ? -1 : k;
    }

    /** Whether the plan still holds once the host's room is only this (and its tiers not fewer). */
    boolean keepsAfterShrink(int host, long memoryRoom, long vcpuRoom) {
        int k = indexOf(host);
        return k < 0 || (memoryRoom >= memory[k] && vcpuRoom >= vcpus[k]);
    }

    /**
     * Whether the plan still holds once a host it restarts nothing on ({@link #indexOf} -1) has this room and these
     * tiers: no VM that passed the host over (chosen further on by name, or homeless) would fit there now.
     *
     * @param position the host's place in name order; {@code positions} every host's
     */
    boolean keepsAfterGrowth(int position, int tiers, long memoryRoom, long vcpuRoom, int[] positions) {
        for (int j = 0; j <= failedAt && j < vms.length; j++) {
            boolean passedOver = j == failedAt || position < positions[chosen[j]];
            Claim c = vms[j];
            if (passedOver && (tiers & Reserve.tier(c.storage())) != 0 && c.memoryBytes() <= memoryRoom
                    && c.vcpus() <= vcpuRoom) {
                return false;
            }
        }
        return true;
    }
}
