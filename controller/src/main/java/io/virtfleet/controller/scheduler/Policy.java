package io.virtfleet.controller.scheduler;

import java.util.Locale;

/**
 * How placement judges hosts. Filters use the ratios; scorers the strategy and weights.
 *
 * @param memoryRatio      share of a host's memory that may be promised to VMs (the rest is the host's own)
 * @param vcpuOvercommit   virtual CPUs that may be promised per hardware thread
 * @param strategy         spread (least loaded first) or pack (fullest host that fits first)
 * @param loadWeight       weight of the measured load per hardware thread
 * @param memoryWeight     weight of memory (measured use blended with what is promised)
 * @param vcpuWeight       weight of the virtual CPUs promised per thread
 * @param nPlusOne         keep the N+1 reserve: refuse a VM after which some host's Ceph-backed VMs could not all
 *                         be restarted on the other ready hosts (see {@link Reserve})
 */
public record Policy(double memoryRatio, double vcpuOvercommit, Strategy strategy, double loadWeight,
                     double memoryWeight, double vcpuWeight, boolean nPlusOne) {

    /** A policy without the N+1 reserve. */
    public Policy(double memoryRatio, double vcpuOvercommit, Strategy strategy, double loadWeight,
                  double memoryWeight, double vcpuWeight) {
        this(memoryRatio, vcpuOvercommit, strategy, loadWeight, memoryWeight, vcpuWeight, false);
    }

    public enum Strategy {
        /** Least loaded host first: the default, it keeps headroom everywhere. */
        SPREAD,
        /** Fullest host that still fits first: keeps whole hosts free for big VMs or maintenance. */
        PACK;

        public static Strategy parse(String field, String text) {
            try {
                return valueOf(text.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new io.virtfleet.common.validation.InvalidInputException(field, text, "spread or pack");
            }
        }
    }

    public Policy {
        check("memory-ratio", memoryRatio, 0.05, 1.0);
        check("vcpu-overcommit", vcpuOvercommit, 0.1, 64);
        check("load-weight", loadWeight, 0, 100);
        check("memory-weight", memoryWeight, 0, 100);
        check("vcpu-weight", vcpuWeight, 0, 100);
        if (loadWeight + memoryWeight + vcpuWeight <= 0) {
            throw new io.virtfleet.common.validation.InvalidInputException("load-weight", "0",
                    "weights whose sum is positive");
        }
    }

    public static Policy defaults() {
        return new Policy(0.90, 4.0, Strategy.SPREAD, 0.4, 0.4, 0.2);
    }

    public Policy withStrategy(Strategy s) {
        return new Policy(memoryRatio, vcpuOvercommit, s, loadWeight, memoryWeight, vcpuWeight, nPlusOne);
    }

    public Policy withNPlusOne(boolean on) {
        return new Policy(memoryRatio, vcpuOvercommit, strategy, loadWeight, memoryWeight, vcpuWeight, on);
    }

    /** The n-plus-one setting's value: {@code off} or {@code on}, nothing else. */
    public static boolean parseNPlusOne(String field, String text) {
        return switch (text) {
            case "off" -> false;
            case "on" -> true;
            default -> throw new io.virtfleet.common.validation.InvalidInputException(field, text, "off or on");
        };
    }

    private static void check(String field, double value, double min, double max) {
        if (!(value >= min && value <= max)) {
            throw new io.virtfleet.common.validation.InvalidInputException(field, Double.toString(value),
                    "a number from " + min + " to " + max);
        }
    }
}
