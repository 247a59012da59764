package io.virtfleet.controller.registry;

import io.virtfleet.proto.v1.HostState;

/** Short words for host states, as operators read them in tables and logs. */
public final class HostStates {
    private HostStates() {}

    public static String label(HostState state) {
        return switch (state) {
            case HOST_STATE_READY -> "ready";
            case HOST_STATE_DEGRADED -> "degraded";
            case HOST_STATE_UNREACHABLE -> "unreachable";
            case HOST_STATE_DRAINING -> "draining";
            case HOST_STATE_FENCED -> "fenced";
            default -> "unknown";
        };
    }
}
