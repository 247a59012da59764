package io.virtfleet.common.validation;

/** VXLAN network identifiers of the private LANs between hypervisors: 1 to 16777215 (24 bits, 0 reserved). */
public final class Vxlan {
    public static final long MIN = 1;
    public static final long MAX = (1L << 24) - 1;
    private static final String RULE = "a VXLAN number from " + MIN + " to " + MAX;

    private Vxlan() {}

    /** Checks a VXLAN number. */
    public static int id(String field, long value) {
        if (value < MIN || value > MAX) {
            throw new InvalidInputException(field, Long.toString(value), RULE);
        }
        return (int) value;
    }

    /** Checks a VXLAN number from a uint32 field, which Java hands over as a signed int. */
    public static int fromUint32(String field, int value) {
        return id(field, Integer.toUnsignedLong(value));
    }

    /** Parses a VXLAN number written as text ("42"). */
    public static int parse(String field, String text) {
        if (text == null || text.isEmpty() || text.length() > 8 || text.charAt(0) == '0'
                || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new InvalidInputException(field, text, RULE);
        }
        long value = Long.parseLong(text);
        if (value > MAX) {
            throw new InvalidInputException(field, text, RULE);
        }
        return (int) value;
    }
}
