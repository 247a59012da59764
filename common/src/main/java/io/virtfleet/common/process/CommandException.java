package io.virtfleet.common.process;

/**
 * An external program could not run, timed out, or (from {@link Command#runChecked()}) failed. The message
 * names the program with its arguments and the tool's own reason, which is what an operator needs.
 */
public final class CommandException extends RuntimeException {
    private final transient Command.Result result;

    CommandException(Command command, String what, Command.Result result) {
        super(command.argv().get(0) + " " + what + (result == null || result.reason().isEmpty() ? "" : ": " + result.reason())
                + " (command: " + command + ")");
        this.result = result;
    }

    /** The run's output, or null when the program did not run to completion. */
    public Command.Result result() {
        return result;
    }
}
