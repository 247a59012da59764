package io.virtfleet.common.validation;

/** Virtual CPUs of a VM: 1 to 256, the most a libvirt/QEMU guest is given here. */
public final class VCpus {
    public static final int MIN = 1;
    public static final int MAX = 256;
    private static final String RULE = "a whole number of virtual CPUs from " + MIN + " to " + MAX;

    private VCpus() {}

    /** Checks a count arriving as a number (an int32 field). */
    public static int count(String field, long value) {
        if (value < MIN || value > MAX) {
            throw new InvalidInputException(field, Long.toString(value), RULE);
        }
        return (int) value;
    }

    /** Parses a count written as text ("4"). */
    public static int parse(String field, String text) {
        if (text == null || text.isEmpty() || text.length() > 3 || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new InvalidInputException(field, text, RULE);
        }
        int value = Integer.parseInt(text);
        if (value < MIN || value > MAX) {
            throw new InvalidInputException(field, text, RULE);
        }
        return value;
    }
}
