package io.virtfleet.controller.vm;

import io.virtfleet.proto.v1.DomainState;

/** Domain states in virsh's words, so operators read what they are used to (CLI and dashboard alike). */
public final class DomainStates {
    private DomainStates() {}

    /** {@code s} in virsh's words; {@code unreported} for a state the agent did not report. */
    public static String label(DomainState s, String unreported) {
        return switch (s) {
            case DOMAIN_STATE_RUNNING -> "running";
            case DOMAIN_STATE_BLOCKED -> "idle";
            case DOMAIN_STATE_PAUSED -> "paused";
            case DOMAIN_STATE_SHUTTING_DOWN -> "in shutdown";
            case DOMAIN_STATE_SHUTOFF -> "shut off";
            case DOMAIN_STATE_CRASHED -> "crashed";
            case DOMAIN_STATE_SUSPENDED -> "pmsuspended";
            default -> unreported;
        };
    }
}
