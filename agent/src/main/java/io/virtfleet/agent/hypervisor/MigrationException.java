package io.virtfleet.agent.hypervisor;

/**
 * A live migration that cannot be carried out, or that ended without moving the VM, for a reason the caller can act
 * on; the message names the VM, the target and libvirt's own words. Bad input is an {@code InvalidInputException}.
 */
public final class MigrationException extends RuntimeException {
    /** Why, in terms a gRPC status maps to one to one (see MigrateDomain's contract). */
    public enum Kind {
        /** The VM's domain is not defined on this host. */
        NOT_FOUND,
        /** The domain does not run, is already being migrated, or a host refuses (certificates, libvirt, QEMU). */
        FAILED_PRECONDITION,
        /** The target's libvirtd cannot be reached, or this host's libvirtd cannot. */
        UNAVAILABLE,
        /** Cancelled, or aborted mid-way (the target was lost): the domain still runs on this host. */
        ABORTED,
        /**
         * Failed with the domain left paused here, as libvirt leaves it when it cannot tell whether the target took the
         * VM over: where it runs is for the hosts' next reports to tell.
         */
        UNKNOWN
    }

    private final Kind kind;

    public MigrationException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
