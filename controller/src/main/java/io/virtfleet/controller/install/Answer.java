package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One answer to the Debian installer, as a line of a preseed file: {@code owner question type value}
 * (debconf's own format, read by debconf-set-selections). Built only from values that cannot break out of
 * their line: printable ASCII, and no backslash at the end, which debconf reads as "continued on the next
 * line" and which would let a value smuggle in an answer of its own.
 *
 * @param owner    the package that owns the question, or {@code d-i} for the installer
 * @param question e.g. {@code netcfg/get_hostname}
 * @param type     one of debconf's types ({@link #TYPES})
 * @param value    the rest of the line, possibly empty
 */
public record Answer(String owner, String question, String type, String value) {
    /** The types debconf-set-selections knows; any other makes it skip the line with a warning. */
    public static final Set<String> TYPES = Set.of("string", "boolean", "select", "multiselect", "note", "text",
            "password", "title");
    private static final Pattern OWNER = Pattern.compile("[a-z0-9][a-z0-9+.-]{0,63}");
    private static final Pattern QUESTION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9+._-]*(/[A-Za-z0-9+._-]+)+");
    private static final int MAX_VALUE = 16_384;

    public Answer {
        if (owner == null || !OWNER.matcher(owner).matches()) {
            throw new InvalidInputException("owner", owner, "d-i or a package name (a-z, 0-9, '+', '.', '-')");
        }
        if (question == null || question.length() > 200 || !QUESTION.matcher(question).matches()) {
            throw new InvalidInputException("question", question, "a debconf question such as netcfg/get_hostname");
        }
        if (!TYPES.contains(type)) {
            throw new InvalidInputException(question + " type", type, "one of " + String.join(", ", TYPES.stream()
                    .sorted().toList()));
        }
        checkValue(question, value);
        if (type.equals("boolean") && !value.equals("true") && !value.equals("false")) {
            throw new InvalidInputException(question, value, "true or false (a boolean)");
        }
    }

    public static Answer of(String question, String type, String value) {
        return new Answer("d-i", question, type, value);
    }

    private static void checkValue(String question, String value) {
        if (value == null || value.length() > MAX_VALUE) {
            throw new InvalidInputException(question, value, "a value of at most " + MAX_VALUE + " characters");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                throw new InvalidInputException(question, value, "printable ASCII on one line (no newline, tab or"
                        + " other control character)");
            }
        }
        if (value.endsWith("\\")) {
            throw new InvalidInputException(question, value, "a value not ending in a backslash (debconf would join"
                    + " the next line to it)");
        }
    }

    public Answer withValue(String newValue) {
        return new Answer(owner, question, type, newValue);
    }

    /** The answer as one preseed line, without its newline. */
    public String line() {
        return owner + " " + question + " " + type + (value.isEmpty() ? "" : " " + value);
    }
}
