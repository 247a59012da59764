package io.virtfleet.common.validation;

/**
 * A value from outside (operator, agent, config) that virtfleet does not accept. The message always
 * names the field, shows the offending value escaped, and says what would be accepted, so it can go
 * verbatim into an INVALID_ARGUMENT status or a CLI error.
 */
public final class InvalidInputException extends IllegalArgumentException {
    private final String field;

    public InvalidInputException(String field, String value, String accepted) {
        super(field + ": " + Escape.quoted(value) + " is not accepted; expected " + accepted);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
