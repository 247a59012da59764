package io.virtfleet.agent.storage;

/**
 * What a disk step did.
 *
 * @param changed whether the host was changed (created, deleted, secret written), as opposed to found as wanted
 * @param detail  what was found and done, e.g. "created rbd:libvirt-sata/git 20 GiB"
 */
public record DiskOutcome(boolean changed, String detail) {
    static DiskOutcome changed(String detail) {
        return new DiskOutcome(true, detail);
    }

    static DiskOutcome alreadyDone(String detail) {
        return new DiskOutcome(false, detail);
    }

    /** This outcome followed by another step's: changed if either changed. */
    DiskOutcome and(DiskOutcome next) {
        return new DiskOutcome(changed || next.changed, detail + "; " + next.detail);
    }
}
