package io.virtfleet.agent.network;

/**
 * The host's network cannot be brought to what was asked. The message names the interface, what was found,
 * and what an operator can do.
 */
public final class NetworkException extends RuntimeException {
    /** Why: decides whether asking again later can help. */
    public enum Kind {
        /** The host is not in a state the step can work from (a conflicting interface, a missing option). */
        PRECONDITION,
        /** The host's network tools could not be run or did not answer: asking again may work. */
        UNAVAILABLE
    }

    private final Kind kind;

    public NetworkException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    /** The same failure with more said before it (e.g. which LAN, what was undone). */
    NetworkException withContext(String prefix, String suffix) {
        return new NetworkException(kind, prefix + getMessage() + suffix);
    }
}
