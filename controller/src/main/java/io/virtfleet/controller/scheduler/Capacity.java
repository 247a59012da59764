package io.virtfleet.controller.scheduler;

import java.util.List;

/**
 * How many more VMs of one request fit, per host and in total, and what stops the next one on each host, as
 * placement would find them placing the VMs one after another ({@link Scheduler#capacity}).
 *
 * @param nPlusOne whether the count keeps the N+1 reserve
 * @param hosts    every known host, those that take the most first, then by name
 */
public record Capacity(long total, boolean nPlusOne, List<OnHost> hosts) {
    public Capacity {
        hosts = List.copyOf(hosts);
    }

    /**
     * One host's share.
     *
     * @param fits   how many more VMs of the request placement would put there
     * @param limit  the filter that refuses the next one: a resource that runs out ({@code memory}, {@code vcpus},
     *               {@code raw-space}), {@code spread-group}, {@code n-plus-one}, or one that refuses any
     *               ({@code state}, {@code storage}, {@code lan}...)
     * @param reason why, with the numbers
     */
    public record OnHost(String host, long fits, String limit, String reason) {}
}
