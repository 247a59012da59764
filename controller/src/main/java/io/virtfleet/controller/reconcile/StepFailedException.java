package io.virtfleet.controller.reconcile;

import io.grpc.Status;

/** A step on a host failed; says which, where, and the agent's own reason. */
public final class StepFailedException extends Exception {
    private final String step;
    private final String host;
    private final Status status;

    public StepFailedException(String step, String host, Status status) {
        super(step + " on " + host + " failed: " + status.getCode()
                + (status.getDescription() == null ? "" : " " + status.getDescription()));
        this.step = step;
        this.host = host;
        this.status = status;
    }

    public String step() {
        return step;
    }

    public String host() {
        return host;
    }

    public Status status() {
        return status;
    }

    /** The host could not be reached or did not answer in time: trying again later may work. */
    public boolean retryable() {
        return status.getCode() == Status.Code.UNAVAILABLE || status.getCode() == Status.Code.DEADLINE_EXCEEDED;
    }
}
