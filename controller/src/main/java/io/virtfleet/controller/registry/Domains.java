package io.virtfleet.controller.registry;

import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;

/** What a reported domain means for the fleet. */
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

    /**
     * Whether libvirt's definition differs from what it was right after virtfleet last defined it (someone ran
     * virsh edit or virsh define since). Unknown fingerprints (virtfleet never defined it, libvirt did not
     * answer) are not a change.
     */
    public static boolean changedByHand(DomainInfo d) {
        return !d.getDefinedSha256().isEmpty() && !d.getDefinitionSha256().isEmpty()
                && !d.getDefinedSha256().equals(d.getDefinitionSha256());
    }
}
