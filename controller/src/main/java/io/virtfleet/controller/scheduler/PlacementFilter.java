package io.virtfleet.controller.scheduler;

/**
 * One reason a host may not take a VM, as one unit: the fast test a decision runs on each host it visits, and
 * the reason, with the numbers, that the explanation gives for a host the test refuses. A decision and its
 * explanation run the same filters in the same order, so they cannot disagree on whether a host fits; the
 * explanation names the first filter a host fails. The filters in force are listed in {@link Filters}.
 *
 * <p>Filters read the hosts from the {@link HostTable} and the request from the {@link Ask}, and keep no
 * state of their own beyond their configuration (the failover routes), so one set serves every decision.
 */
interface PlacementFilter {
    /** Its name in explanations and "no host fits" errors, e.g. {@code memory}. */
    String name();

    /** Whether the filter has a say on this request at all (e.g. raw-space only for a raw disk). */
    default boolean appliesTo(Request r) {
        return true;
    }

    /**
     * {@link Capabilities} bits every host passing this filter for {@code r} has: {@link BoundIndex} skips
     * hosts lacking them without judging them, so this must be exact (a host with the bits passes only if
     * {@link #fits} says so, one without them never does). 0 for filters on anything else.
     */
    default int requires(Request r) {
        return 0;
    }

    /** The fast test: whether the host in {@code slot} passes. Allocates nothing. */
    boolean fits(HostTable hosts, int slot, Ask ask);

    /** Why the host in {@code slot} does not pass, with the numbers; asked only when {@link #fits} is false. */
    String reason(HostTable hosts, int slot, Ask ask);
}
