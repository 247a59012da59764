package io.virtfleet.controller.cli;

import io.virtfleet.proto.v1.DomainState;

/** Domain states in virsh's words, so operators read what they are used to. */
final class DomainStates {
    private DomainStates() {}

    static String label(DomainState s) {
        return switch (s) {
            case DOMAIN_STATE_RUNNING -> "running";
            case DOMAIN_STATE_BLOCKED -> "idle";
            case DOMAIN_STATE_PAUSED -> "paused";
            case DOMAIN_STATE_SHUTTING_DOWN -> "in shutdown";
            case DOMAIN_STATE_SHUTOFF -> "shut off";
            case DOMAIN_STATE_CRASHED -> "crashed";
            case DOMAIN_STATE_SUSPENDED -> "pmsuspended";
            default -> "no state";
        };
    }
}
