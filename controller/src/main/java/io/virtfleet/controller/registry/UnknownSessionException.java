package io.virtfleet.controller.registry;

/** A heartbeat for a session the registry does not hold (controller restarted, or host forgotten). */
public final class UnknownSessionException extends RuntimeException {
    public UnknownSessionException(String message) {
        super(message);
    }
}
