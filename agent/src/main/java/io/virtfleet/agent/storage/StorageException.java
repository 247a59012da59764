package io.virtfleet.agent.storage;

/**
 * A disk step that cannot be done, for a reason the caller can act on. The message names the disk, what was
 * found and what to do; {@link #kind()} says whether repeating the step later may help.
 */
public final class StorageException extends RuntimeException {
    /** Why the step cannot be done. */
    public enum Kind {
        /** The host is not in a state that allows the step (disk of another size, pool missing, disk in use). */
        WRONG_STATE,
        /** Something the step depends on (Ceph, libvirt) does not answer; repeating later may work. */
        UNAVAILABLE
    }

    private final Kind kind;

    private StorageException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    static StorageException wrongState(String message) {
        return new StorageException(Kind.WRONG_STATE, message, null);
    }

    static StorageException unavailable(String message) {
        return new StorageException(Kind.UNAVAILABLE, message, null);
    }

    static StorageException unavailable(String message, Throwable cause) {
        return new StorageException(Kind.UNAVAILABLE, message, cause);
    }

    public Kind kind() {
        return kind;
    }
}
