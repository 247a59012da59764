package io.virtfleet.controller.scheduler;

/**
 * The arithmetic of placement: capacity limits and the score. Every score part is in [0, 1], higher is
 * better; the {@link Scheduler} precomputes the per-host constants here so a decision does no division.
 *
 * <p>Memory is judged as the blend of two views, half each: what the host measures in use (VMs not started
 * yet use nothing) and what is promised to VMs including the new one (an idle VM's memory is still its own).
 * Either alone misleads: measured use ignores VMs being created, promises ignore what the host itself uses.
 * Hence the memory part {@code 1 - min(1, halfMeasuredUse + (promised + request) × 0.5 / limit)}.
 */
final class Fit {
    private Fit() {}

    static long memoryLimit(long memoryTotal, double ratio) {
        return (long) (memoryTotal * ratio);
    }

    static double vcpuLimit(int threads, double overcommit) {
        return threads * overcommit;
    }

    /** 1 for an idle host, 0 at one runnable task per hardware thread or more. */
    static double loadPart(double load1, int threads) {
        return 1 - Math.min(1, load1 / Math.max(1, threads));
    }

    static double halfMeasuredUse(long total, long available) {
        return total <= 0 ? 0.5 : 0.5 * (total - available) / total;
    }

    static double halfInverse(long limit) {
        return limit <= 0 ? Double.POSITIVE_INFINITY : 0.5 / limit;
    }

    static double inverse(double limit) {
        return limit <= 0 ? Double.POSITIVE_INFINITY : 1 / limit;
    }

    /**
     * The host's score under the policy. Spread: the weighted free share. Pack: the weighted used share of
     * memory and vCPUs (fullest first), with load still preferring the calmer of two equally full hosts.
     */
    static double score(Weights w, double load, double memory, double vcpu) {
        return w.pack
                ? w.load * load + w.memory * (1 - memory) + w.vcpu * (1 - vcpu)
                : w.load * load + w.memory * memory + w.vcpu * vcpu;
    }

    /** A policy's weights, normalised to sum to 1 once rather than on every score. */
    record Weights(boolean pack, double load, double memory, double vcpu) {
        static Weights of(Policy p) {
            double sum = p.loadWeight() + p.memoryWeight() + p.vcpuWeight();
            return new Weights(p.strategy() == Policy.Strategy.PACK, p.loadWeight() / sum, p.memoryWeight() / sum,
                    p.vcpuWeight() / sum);
        }
    }
}
