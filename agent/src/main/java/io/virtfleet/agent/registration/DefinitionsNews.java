package io.virtfleet.agent.registration;

/**
 * Told what the controller says about its definitions repository and whether the host must stand down, on the
 * link's thread: must return at once (a heartbeat waits for it).
 */
public interface DefinitionsNews {
    /** Nobody listens. */
    DefinitionsNews NONE = new DefinitionsNews() {
        @Override
        public void registered(int gitPort, String commit, boolean standDown) {}

        @Override
        public void heartbeat(String commit, boolean standDown) {}
    };

    /**
     * At registration.
     *
     * @param gitPort the controller's git server's port; 0 when it serves none
     * @param commit  the repository's current commit; empty when the controller does not say
     * @param standDown whether the controller holds the host as lost and orders it to stand down
     */
    void registered(int gitPort, String commit, boolean standDown);

    /**
     * With every accepted heartbeat: the repository's current commit, empty when the controller does not say, and
     * whether the controller orders the host to stand down.
     */
    void heartbeat(String commit, boolean standDown);
}
