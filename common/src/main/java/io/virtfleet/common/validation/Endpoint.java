package io.virtfleet.common.validation;

import java.util.regex.Pattern;

/** A "host:port" network address, host being a DNS name, an IPv4 address or a bracketed IPv6 address. */
public record Endpoint(String host, int port) {
    private static final Pattern HOST =
            Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]{2,45}]");
    private static final String RULE = "host:port, e.g. controller.example:7440 or 10.0.0.1:7440 or [::1]:7440";

    public Endpoint {
        if (!HOST.matcher(host).matches()) {
            throw new InvalidInputException("host", host, "a DNS name or an IP address");
        }
        if (port < 0 || port > 65535) {
            throw new InvalidInputException("port", Integer.toString(port), "0..65535");
        }
    }

    /** Parses "host:port"; the field name goes into the error message. */
    public static Endpoint parse(String field, String text) {
        if (text == null) {
            throw new InvalidInputException(field, null, RULE);
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1 || (text.indexOf(':') != colon && !text.startsWith("["))) {
            throw new InvalidInputException(field, text, RULE);
        }
        String host = text.substring(0, colon);
        String portText = text.substring(colon + 1);
        if (!portText.chars().allMatch(Character::isDigit) || portText.length() > 5 || !HOST.matcher(host).matches()) {
            throw new InvalidInputException(field, text, RULE);
        }
        int port = Integer.parseInt(portText);
        if (port > 65535) {
            throw new InvalidInputException(field, text, RULE + " (port 0..65535)");
        }
        return new Endpoint(host, port);
    }

    /** Host without IPv6 brackets, as socket APIs want it. */
    public String bareHost() {
        return host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    }

    @Override
    public String toString() {
        return host + ":" + port;
    }
}
