package io.virtfleet.controller.scheduler;

/** Placement found no host for a VM; the explanation says, host by host, why not. */
public final class NoHostFitsException extends RuntimeException {
    private final transient Explanation explanation;

    public NoHostFitsException(String vmName, Explanation explanation) {
        super("no host fits VM " + vmName + ": " + explanation.summary());
        this.explanation = explanation;
    }

    public Explanation explanation() {
        return explanation;
    }
}
