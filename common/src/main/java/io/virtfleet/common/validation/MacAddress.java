package io.virtfleet.common.validation;

import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A unicast Ethernet MAC address, such as the virtual MAC OVH binds to a failover IP. Written
 * "xx:xx:xx:xx:xx:xx" and kept lowercase; multicast addresses (lowest bit of the first octet set, which
 * includes broadcast) and the all-zero address are refused, since no NIC may carry them.
 */
public final class MacAddress {
    private static final Pattern TEXT = Pattern.compile("[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}");
    private static final String FORMAT = "a MAC address xx:xx:xx:xx:xx:xx of hex digits";

    private final String text;
    private final byte[] octets;

    private MacAddress(String text, byte[] octets) {
        this.text = text;
        this.octets = octets;
    }

    /** Parses and normalises (lowercase) a unicast MAC address. */
    public static MacAddress parse(String field, String text) {
        if (text == null || !TEXT.matcher(text).matches()) {
            throw new InvalidInputException(field, text, FORMAT + ", e.g. 02:00:00:ab:cd:ef");
        }
        String lower = text.toLowerCase(Locale.ROOT);
        byte[] octets = HexFormat.ofDelimiter(":").parseHex(lower);
        if ((octets[0] & 0x01) != 0) {
            throw new InvalidInputException(field, text, "a unicast MAC address (the first octet even);"
                    + " this one is multicast or broadcast");
        }
        boolean allZero = true;
        for (byte b : octets) {
            allZero &= b == 0;
        }
        if (allZero) {
            throw new InvalidInputException(field, text, "a MAC address other than 00:00:00:00:00:00");
        }
        return new MacAddress(lower, octets);
    }

    /** Whether the address is locally administered (second-lowest bit of the first octet), not vendor-assigned. */
    public boolean locallyAdministered() {
        return (octets[0] & 0x02) != 0;
    }

    /** The address in lowercase, "xx:xx:xx:xx:xx:xx". */
    public String text() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MacAddress other && other.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    @Override
    public String toString() {
        return text;
    }
}
