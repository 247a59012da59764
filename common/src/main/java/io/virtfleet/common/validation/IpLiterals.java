package io.virtfleet.common.validation;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * An IP address written as a literal (IPv4 dotted quad, or IPv6), never a host name: a name would be looked up
 * in DNS, and whatever it resolves to is not what the operator or the agent wrote.
 */
public final class IpLiterals {
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]{2,45}");
    private static final String ACCEPTED = "an IP address literal, e.g. 10.0.0.5 or fd00::5 (no host name)";

    private IpLiterals() {}

    /** The address in its canonical text (IPv6 in full, as {@link InetAddress#getHostAddress} writes it). */
    public static String canonical(String field, String text) {
        if (text != null && text.indexOf(':') < 0) {
            try {
                return Ipv4.parse(field, text).toString();
            } catch (InvalidInputException e) {
                throw new InvalidInputException(field, text, ACCEPTED);
            }
        }
        if (text == null || !IPV6.matcher(text).matches()) {
            throw new InvalidInputException(field, text, ACCEPTED);
        }
        try {
            InetAddress address = InetAddress.getByName(text); // a literal with ':' is parsed, never looked up
            if (!(address instanceof Inet6Address)) {
                throw new InvalidInputException(field, text, ACCEPTED);
            }
            return address.getHostAddress();
        } catch (UnknownHostException e) {
            throw new InvalidInputException(field, text, ACCEPTED);
        }
    }

    /**
     * Why {@code address} is not a global address, one other machines may see this host's connections come from:
     * "loopback", "link-local", "unspecified" or "multicast"; empty when it is global (private ranges such as
     * 10.0.0.0/8 and fd00::/8 are: they cross a site's routers).
     */
    public static Optional<String> nonGlobal(InetAddress address) {
        if (address.isLoopbackAddress()) {
            return Optional.of("loopback");
        }
        if (address.isLinkLocalAddress()) {
            return Optional.of("link-local");
        }
        if (address.isAnyLocalAddress()) {
            return Optional.of("unspecified");
        }
        if (address.isMulticastAddress()) {
            return Optional.of("multicast");
        }
        return Optional.empty();
    }

    /** {@link #nonGlobal(InetAddress)} of a literal as {@link #canonical} writes it. */
    public static Optional<String> nonGlobal(String literal) {
        String canonical = canonical("address", literal);
        try {
            return nonGlobal(InetAddress.getByName(canonical)); // a literal: parsed, never looked up
        } catch (UnknownHostException e) {
            throw new InvalidInputException("address", literal, ACCEPTED);
        }
    }
}
