package io.virtfleet.common.validation;

import java.util.regex.Pattern;

/**
 * An IPv4 address in dotted-quad form, strictly: four decimal numbers 0-255 without leading zeros
 * (so "010.0.0.1", which some parsers read as octal, is refused rather than guessed at).
 */
public final class Ipv4 {
    private static final Pattern TEXT = Pattern.compile("(0|[1-9][0-9]{0,2})(\\.(0|[1-9][0-9]{0,2})){3}");
    private static final String FORMAT = "an IPv4 address a.b.c.d of numbers 0-255 without leading zeros, e.g. 203.0.113.7";
    private static final String FAILOVER = "a public unicast IPv4 address, e.g. 203.0.113.7 (not private 10.x.x.x,"
            + " 172.16-31.x.x or 192.168.x.x, shared 100.64-127.x.x, link-local 169.254.x.x, 0.x.x.x, loopback"
            + " 127.x.x.x, multicast 224-239.x.x.x, reserved 240-255.x.x.x or broadcast)";
    private static final String UNICAST = "a unicast IPv4 address of a host, e.g. 10.0.0.2"
            + " (not 0.x.x.x, loopback 127.x.x.x, multicast 224-239.x.x.x, reserved 240-255.x.x.x or broadcast)";
    private static final String PUBLIC = "a public IPv4 address reachable from the Internet, e.g. 203.0.113.7 (not"
            + " private 10.x.x.x, 172.16-31.x.x or 192.168.x.x, shared 100.64-127.x.x, link-local 169.254.x.x,"
            + " 0.x.x.x, loopback 127.x.x.x, multicast 224-239.x.x.x, reserved 240-255.x.x.x or broadcast)";

    private final int[] octets;

    private Ipv4(int[] octets) {
        this.octets = octets;
    }

    /** Parses any dotted-quad address. */
    public static Ipv4 parse(String field, String text) {
        if (text == null || text.length() > 15 || !TEXT.matcher(text).matches()) {
            throw new InvalidInputException(field, text, FORMAT);
        }
        String[] parts = text.split("\\.");
        int[] octets = new int[4];
        for (int i = 0; i < 4; i++) {
            octets[i] = Integer.parseInt(parts[i]);
            if (octets[i] > 255) {
                throw new InvalidInputException(field, text, FORMAT);
            }
        }
        return new Ipv4(octets);
    }

    /**
     * Parses an address that can be an OVH failover IP, routed to one server and configured in a guest as a /32:
     * a public unicast address (see {@link #isPublic}), as every failover IP OVH sells is.
     */
    public static Ipv4 failoverAddress(String field, String text) {
        Ipv4 address = parse(field, text);
        if (!address.isPublic()) {
            throw new InvalidInputException(field, text, FAILOVER);
        }
        return address;
    }

    /**
     * Parses the address of one host on a network (private ranges included), such as a hypervisor's VXLAN
     * underlay address: only addresses that are not unicast (0.x, loopback, multicast, reserved, broadcast) are
     * refused.
     */
    public static Ipv4 unicastAddress(String field, String text) {
        Ipv4 address = parse(field, text);
        if (!address.isUnicast()) {
            throw new InvalidInputException(field, text, UNICAST);
        }
        return address;
    }

    /**
     * Parses a server's public address, such as the main IPv4 address OVH routes a failover IP to: a unicast
     * address outside the private, shared (carrier-grade NAT) and link-local ranges as well.
     */
    public static Ipv4 publicAddress(String field, String text) {
        Ipv4 address = parse(field, text);
        if (!address.isPublic()) {
            throw new InvalidInputException(field, text, PUBLIC);
        }
        // The failover gateway is this address with .254 (OVH keeps .254 of a server's block for the gateway and
        // .255 is its broadcast): neither is a server's own address. Refused here, where the agent reads its
        // setting and placement trusts a report, not first when a VM's installer asks for its network.
        if (address.octets[3] >= 254) {
            throw new InvalidInputException(field, text, "a server's own address, not .254 (OVH's gateway of the"
                    + " block) or .255 (its broadcast)");
        }
        return address;
    }

    /**
     * Whether this is an address of the public Internet: unicast, and not private (RFC 1918), shared
     * (100.64.0.0/10, RFC 6598) or link-local (169.254.0.0/16).
     */
    public boolean isPublic() {
        int first = octets[0];
        int second = octets[1];
        boolean privateRange = first == 10 || (first == 172 && second >= 16 && second <= 31)
                || (first == 192 && second == 168);
        boolean shared = first == 100 && second >= 64 && second <= 127;
        return isUnicast() && !privateRange && !shared && !isLinkLocal();
    }

    public boolean isLinkLocal() {
        return octets[0] == 169 && octets[1] == 254;
    }

    /** Whether packets to this address reach one host: not 0.0.0.0/8, loopback, multicast, reserved or broadcast. */
    public boolean isUnicast() {
        int first = octets[0];
        return first != 0 && first != 127 && first < 224;
    }

    public boolean isLoopback() {
        return octets[0] == 127;
    }

    public boolean isMulticast() {
        return octets[0] >= 224 && octets[0] <= 239;
    }

    public boolean isBroadcast() {
        return octets[0] == 255 && octets[1] == 255 && octets[2] == 255 && octets[3] == 255;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Ipv4 other && java.util.Arrays.equals(other.octets, octets);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(octets);
    }

    @Override
    public String toString() {
        return octets[0] + "." + octets[1] + "." + octets[2] + "." + octets[3];
    }
}
