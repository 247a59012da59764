package io.virtfleet.controller.registry;

import io.virtfleet.proto.v1.DomainState;

/** What a reported domain state means for the fleet. */
public final class Domains {
    private Domains() {}

    /**
     * Whether libvirt has a process for the domain (running, idle, paused or shutting down): it holds its memory
     * and vCPUs, counts as running in tables, and is what "running wanted" compares with.
     */
    public static boolean active(DomainState state) {
        return switch (state) {
            case DOMAIN_STATE_RUNNING, DOMAIN_STATE_BLOCKED, DOMAIN_STATE_PAUSED, DOMAIN_STATE_SHUTTING_DOWN -> true;
            default -> false;
        };
    }
}
