package io.virtfleet.agent.registration;

/**
 * Told what the controller says about its definitions repository, whether the host must stand down and whether
 * the controller holds after a restore, on the
 * link's thread: must return at once (a heartbeat waits for it).
 */
public interface DefinitionsNews {
    /** Nobody listens. */
    DefinitionsNews NONE = new DefinitionsNews() {
        @Override
        public void registered(int gitPort, String commit, boolean standDown, boolean restoreHold) {}

        @Override
        public void heartbeat(String commit, boolean standDown, boolean restoreHold) {}
    };

    /**
     * At registration.
     *
     * @param gitPort the controller's git server's port; 0 when it serves none
     * @param commit  the repository's current commit; empty when the controller does not say
     * @param standDown whether the controller holds the host as lost and orders it to stand down
     * @param restoreHold whether the controller holds after a restore from a backup: no domain is to be started
     */
    void registered(int gitPort, String commit, boolean standDown, boolean restoreHold);

    /**
     * With every accepted heartbeat: the repository's current commit, empty when the controller does not say, and
     * whether the controller orders the host to stand down or holds after a restore.
     */
    void heartbeat(String commit, boolean standDown, boolean restoreHold);
}
