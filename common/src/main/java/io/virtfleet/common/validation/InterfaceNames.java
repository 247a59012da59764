package io.virtfleet.common.validation;

import java.util.regex.Pattern;

/**
 * Names of the host's network interfaces (underlay device, public bridge) as an operator configures them.
 * Linux allows up to 15 bytes of almost anything; this accepts the names interfaces really have (eth0,
 * enp3s0f1, bond0.100, br-public) and refuses what could be read as an option or a path by a tool.
 */
public final class InterfaceNames {
    /** Linux's IFNAMSIZ (16) less the terminating NUL. */
    public static final int MAX_LENGTH = 15;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0," + (MAX_LENGTH - 1) + "}");
    private static final String RULE = "a network interface name of 1-" + MAX_LENGTH
            + " characters of A-Z, a-z, 0-9, '_', '.' and '-', starting with a letter or digit, e.g. eth1";

    private InterfaceNames() {}

    /** Returns the interface name when it is acceptable, otherwise throws naming the field. */
    public static String check(String field, String value) {
        if (value == null || !NAME.matcher(value).matches()) {
            throw new InvalidInputException(field, value, RULE);
        }
        return value;
    }
}
