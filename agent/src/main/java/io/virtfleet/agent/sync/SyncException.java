package io.virtfleet.agent.sync;

/** A sync that could not run to its end; the message says why and what would help. */
public final class SyncException extends RuntimeException {
    /** Why, in terms a gRPC status maps to one to one. */
    public enum Kind {
        /** Nothing to sync from, or the repository does not hold the commit asked for: asking again will not help yet. */
        PRECONDITION,
        /** The repository could not be reached or read: asking again may work. */
        UNAVAILABLE
    }

    private final Kind kind;

    public SyncException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
