package io.virtfleet.agent.hypervisor;

/**
 * A domain operation that cannot be carried out for a reason the caller can act on; the message names the
 * domain, what was found and what to do. Bad input is an {@code InvalidInputException} instead.
 */
public final class DomainOperationException extends RuntimeException {
    /** Why, in terms a gRPC status maps to one to one. */
    public enum Reason {
        /** No such domain on this host. */
        NOT_FOUND,
        /** The domain exists but is in a state (running, different identity, ...) that forbids the operation. */
        WRONG_STATE,
        /** libvirt cannot be reached; trying again later may work. */
        UNAVAILABLE
    }

    private final Reason reason;

    public DomainOperationException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
