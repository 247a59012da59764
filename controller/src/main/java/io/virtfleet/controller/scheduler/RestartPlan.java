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
    /** The hosts the plan restarts VMs on, and what it restarts on each. */
    final int[] hosts;
    final long[] memory;
    final long[] vcpus;

    /** Per host in {@link #hosts}, where the reserve lists this plan among that host's users (kept by the reserve). */
    final int[] userAt;

    RestartPlan(Claim[] vms, int[] chosen, int failedAt) {
        this.vms = vms;
        this.chosen = chosen;
        this.failedAt = failedAt;
        // Plain loops: a count keeping the reserve makes hundreds of thousands of plans.
        int[] distinct = new int[failedAt];
        long[] m = new long[failedAt];
        long[] v = new long[failedAt];
        int count = 0;
        for (int j = 0; j < failedAt; j++) {
            int k = count - 1; // from the last host: first fit fills one host after another
            while (k >= 0 && distinct[k] != chosen[j]) {
                k--;
            }
            if (k < 0) {
                k = count;
                distinct[count++] = chosen[j];
            }
            m[k] += vms[j].memoryBytes();
            v[k] += vms[j].vcpus();
        }
        this.hosts = Arrays.copyOf(distinct, count);
        this.memory = Arrays.copyOf(m, count);
        this.vcpus = Arrays.copyOf(v, count);
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
        for (int k = 0; k < hosts.length; k++) {
            if (hosts[k] == host) {
                return k;
            }
        }
        return -1;
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
