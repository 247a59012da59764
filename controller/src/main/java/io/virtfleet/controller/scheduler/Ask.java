package io.virtfleet.controller.scheduler;

/**
 * A request as a decision or an explanation reads it host after host: the request, the filters that apply to
 * it, and what those look up once per request rather than once per host. Reused by the {@link Scheduler}
 * under its lock.
 */
final class Ask {
    Request request;
    /** The filters whose {@link PlacementFilter#appliesTo} is true for the request, in order: {@code 0 .. count - 1}. */
    final PlacementFilter[] filters;
    int count;
    /** Every {@link Capabilities} bit those filters require. */
    int required;
    /** Per host slot, the members of the request's spread group there; null when none ever was. */
    int[] groupMembers;
    /**
     * The filters a decision runs before the score, {@code 0 .. cheap - 1}; those after (the N+1 reserve, which
     * looks beyond the host) only on a host whose score would win.
     */
    int cheap;
    /** The request as the claim it would make, for the reserve; made when first needed. */
    private Claim claim;

    Ask(int maxFilters) {
        filters = new PlacementFilter[maxFilters];
    }

    void set(Request r, PlacementFilter[] all, HostTable hosts) {
        request = r;
        count = 0;
        required = 0;
        for (PlacementFilter f : all) {
            if (f.appliesTo(r)) {
                filters[count++] = f;
                required |= f.requires(r);
            }
        }
        groupMembers = hosts.groupMembers(r.spreadGroup());
        cheap = count > 0 && filters[count - 1] instanceof Filters.NPlusOne ? count - 1 : count;
        claim = null;
    }

    Claim claim() {
        if (claim == null) {
            claim = Claim.of(request, "", 0);
        }
        return claim;
    }
}
