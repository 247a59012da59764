package io.virtfleet.agent.registration;

/**
 * Told what the controller says about its definitions repository, on the link's thread: must return at once (a
 * heartbeat waits for it).
 */
public interface DefinitionsNews {
    /** Nobody listens. */
    DefinitionsNews NONE = new DefinitionsNews() {
        @Override
        public void registered(int gitPort, String commit) {}

        @Override
        public void heartbeat(String commit) {}
    };

    /**
     * At registration.
     *
     * @param gitPort the controller's git server's port; 0 when it serves none
     * @param commit  the repository's current commit; empty when the controller does not say
     */
    void registered(int gitPort, String commit);

    /** With every accepted heartbeat: the repository's current commit, empty when the controller does not say. */
    void heartbeat(String commit);
}
