package io.virtfleet.common.cli;

/** Process exit codes shared by the CLI, the agent and the controller. Scripts may rely on them. */
public final class ExitCode {
    /** Done as asked. */
    public static final int OK = 0;
    /** The operation was attempted and failed (the message says why). */
    public static final int FAILURE = 1;
    /** Bad flags, arguments or configuration: nothing was attempted. */
    public static final int USAGE = 2;
    /** The controller (or agent) could not be reached. */
    public static final int UNAVAILABLE = 3;
    /** The named host or VM does not exist. */
    public static final int NOT_FOUND = 4;
    /** The caller may not do this: no or unusable credentials, or a role without the right. */
    public static final int DENIED = 5;
    /** No host can take the VM: every host's reason was printed. */
    public static final int NO_HOST_FITS = 6;
    /** {@code virtfleet drift --exit-code}: some host or domain differs from the definitions repository. */
    public static final int DRIFT = 7;
    /** {@code host recover}: some VMs were left (each listed with why); running it again resumes. */
    public static final int SOME_LEFT = 8;
    /** {@code adopt}: some domains were refused (each listed with why); the others were adopted. */
    public static final int SOME_REFUSED = 9;
    /** {@code health}: the controller, or an agent asked, answered NOT_SERVING (or, an agent, did not answer). */
    public static final int NOT_SERVING = 10;

    private ExitCode() {}
}
