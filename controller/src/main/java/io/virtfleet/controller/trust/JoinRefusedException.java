package io.virtfleet.controller.trust;

/** A join token that cannot enroll this host; the message says why, for the agent's operator and the log. */
public final class JoinRefusedException extends Exception {
    public JoinRefusedException(String message) {
        super(message);
    }
}
