package io.virtfleet.controller.registry;

/** A registration the registry will not accept; the message tells the agent's operator what to do. */
public final class RegistrationRefusedException extends RuntimeException {
    public RegistrationRefusedException(String message) {
        super(message);
    }
}
