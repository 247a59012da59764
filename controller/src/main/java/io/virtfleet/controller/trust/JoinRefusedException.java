package io.virtfleet.controller.trust;

/** A join token that cannot enroll this host; the message says why, for the agent's operator and the log. */
public final class JoinRefusedException extends Exception {
    private final boolean ofThisFleet;

    public JoinRefusedException(String message) {
        this(message, true);
    }

    /**
     * @param ofThisFleet whether the token names one this controller made (a used, expired or mistyped token: an
     *     operator's mistake worth a log line), rather than junk anyone may send as fast as they like
     */
    JoinRefusedException(String message, boolean ofThisFleet) {
        super(message);
        this.ofThisFleet = ofThisFleet;
    }

    public boolean ofThisFleet() {
        return ofThisFleet;
    }
}
