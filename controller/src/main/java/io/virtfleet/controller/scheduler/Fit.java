package io.virtfleet.controller.scheduler;

/**
 * The placement rules as plain arithmetic, shared by the fast decision loop and the explanation, so the two
 * can never disagree about what fits or how it scores. Every score part is in [0, 1], higher is better.
 */
final class Fit {
    private Fit() {}

    static long memoryLimit(long memoryTotal, double ratio) {
        return (long) (memoryTotal * ratio);
    }

    static double vcpuLimit(int threads, double overcommit) {
        return threads * overcommit;
    }

    static boolean memory(long allocated, long request, long limit) {
        return allocated + request <= limit;
    }

    static boolean vcpus(long allocated, int request, double limit) {
        return allocated + request <= limit;
    }

    /** A raw disk must fit the images directory now, and raw disks promised there must not exceed its size. */
    static boolean raw(long request, long rawAllocated, long imagesFree, long imagesTotal) {
        return request == 0 || (request <= imagesFree && rawAllocated + request <= imagesTotal);
    }

    /** 1 for an idle host, 0 at one runnable task per hardware thread or more. */
    static double loadPart(double load1, int threads) {
        return 1 - Math.min(1, load1 / Math.max(1, threads));
    }

    /**
     * Free memory as the blend of two views: what the host measures in use (VMs not started yet use nothing)
     * and what is promised to VMs including this one (an idle VM's memory is still its own). Either alone
     * misleads: measured use ignores VMs being created, promises ignore what the host itself uses.
     */
    static double memoryPart(long total, long available, long allocated, long request, long limit) {
        double measured = total <= 0 ? 1 : (double) (total - available) / total;
        double promised = limit <= 0 ? 1 : (double) (allocated + request) / limit;
        return 1 - Math.min(1, 0.5 * measured + 0.5 * promised);
    }

    static double vcpuPart(long allocated, int request, double limit) {
        return 1 - Math.min(1, (allocated + request) / Math.max(1e-9, limit));
    }

    /**
     * The host's score under the policy. Spread: the weighted free share. Pack: the weighted used share of
     * memory and vCPUs (fullest first), with load still preferring the calmer of two equally full hosts.
     */
    static double score(Policy p, double load, double memory, double vcpu) {
        double sum = p.loadWeight() + p.memoryWeight() + p.vcpuWeight();
        if (p.strategy() == Policy.Strategy.PACK) {
            return (p.loadWeight() * load + p.memoryWeight() * (1 - memory) + p.vcpuWeight() * (1 - vcpu)) / sum;
        }
        return (p.loadWeight() * load + p.memoryWeight() * memory + p.vcpuWeight() * vcpu) / sum;
    }
}
