package io.virtfleet.agent.storage;

import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The Ceph monitors a ceph.conf names in {@code mon_host}, in each form Ceph accepts: a list separated by commas,
 * semicolons or spaces of {@code 1.2.3.4}, {@code 1.2.3.4:6789}, {@code v2:1.2.3.4:3300/0}, address vectors
 * {@code [v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]}, IPv6 {@code [::1]:6789} and host names. Only where the monitors are
 * matters here (to learn which local address reaches them), not which protocol each port speaks.
 */
public final class MonitorAddresses {
    /** The port of the monitors' legacy protocol, when mon_host gives none. */
    static final int DEFAULT_PORT = 6789;

    /** One monitor address: a host name or address literal (IPv6 without brackets) and a port. */
    public record Monitor(String host, int port) {}

    private MonitorAddresses() {}

    /**
     * The monitors of {@code conf}'s {@code mon_host} (also written {@code mon host} or {@code mon-host}) in its
     * [global] section or a [client] or [client.USER] one, the most specific winning, as Ceph's clients read it.
     */
    public static List<Monitor> fromConf(Path conf, String user) throws IOException {
        String found = null;
        int foundRank = -1;
        String section = "global";
        for (String raw : Files.readAllLines(conf, StandardCharsets.UTF_8)) {
            String line = stripComment(raw).strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("[") && line.endsWith("]")) {
                section = line.substring(1, line.length() - 1).strip().toLowerCase(Locale.ROOT);
                continue;
            }
            int eq = line.indexOf('=');
            if (eq < 0) {
                continue;
            }
            String key = line.substring(0, eq).strip().toLowerCase(Locale.ROOT).replaceAll("[ _-]+", "_");
            int rank = switch (section) {
                case "global" -> 0;
                case "client" -> 1;
                default -> section.equals("client." + user) ? 2 : -1;
            };
            if (key.equals("mon_host") && rank >= foundRank && rank >= 0) {
                found = unquote(line.substring(eq + 1).strip());
                foundRank = rank;
            }
        }
        if (found == null) {
            throw new InvalidInputException("ceph-conf", conf.toString(), "a ceph.conf whose [global] section sets mon_host");
        }
        return parse(found);
    }

    /** The monitors a {@code mon_host} value lists; a malformed entry is an error naming it. */
    public static List<Monitor> parse(String monHost) {
        List<Monitor> monitors = new ArrayList<>();
        for (String entry : topLevelEntries(monHost)) {
            if (entry.startsWith("[") && isAddressVector(entry)) {
                if (!entry.endsWith("]")) {
                    throw malformed(monHost, entry);
                }
                for (String item : entry.substring(1, entry.length() - 1).split(",")) {
                    if (!item.isBlank()) {
                        monitors.add(monitor(monHost, item.strip()));
                    }
                }
            } else {
                monitors.add(monitor(monHost, entry));
            }
        }
        if (monitors.isEmpty()) {
            throw new InvalidInputException("mon_host", monHost, "at least one monitor address");
        }
        return List.copyOf(monitors);
    }

    /** Splits at commas, semicolons and blanks outside brackets. */
    private static List<String> topLevelEntries(String monHost) {
        List<String> entries = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        int depth = 0;
        for (char c : monHost.toCharArray()) {
            if (c == '[') {
                depth++;
            } else if (c == ']') {
                depth--;
            }
            if (depth == 0 && (c == ',' || c == ';' || Character.isWhitespace(c))) {
                if (!current.isEmpty()) {
                    entries.add(current.toString());
                }
                current.setLength(0);
            } else {
                current.append(c);
            }
        }
        if (depth != 0) {
            throw new InvalidInputException("mon_host", monHost, "balanced '[' and ']'");
        }
        if (!current.isEmpty()) {
            entries.add(current.toString());
        }
        return entries;
    }

    /** {@code [v2:...,v1:...]} is a vector of typed addresses; {@code [::1]:6789} is one IPv6 address. */
    private static boolean isAddressVector(String entry) {
        String inner = entry.substring(1).toLowerCase(Locale.ROOT);
        return inner.startsWith("v1:") || inner.startsWith("v2:") || inner.startsWith("any:");
    }

    private static Monitor monitor(String monHost, String entry) {
        String text = entry;
        String lower = text.toLowerCase(Locale.ROOT);
        for (String type : List.of("v1:", "v2:", "any:")) {
            if (lower.startsWith(type)) {
                text = text.substring(type.length());
                break;
            }
        }
        int slash = text.lastIndexOf('/'); // the nonce, e.g. "/0"
        if (slash >= 0) {
            text = text.substring(0, slash);
        }
        String host;
        String port = null;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0) {
                throw malformed(monHost, entry);
            }
            host = text.substring(1, close);
            String rest = text.substring(close + 1);
            if (!rest.isEmpty()) {
                if (!rest.startsWith(":")) {
                    throw malformed(monHost, entry);
                }
                port = rest.substring(1);
            }
        } else if (text.indexOf(':') != text.lastIndexOf(':')) {
            host = text; // a bare IPv6 address: no port can follow it unbracketed
        } else if (text.indexOf(':') >= 0) {
            host = text.substring(0, text.indexOf(':'));
            port = text.substring(text.indexOf(':') + 1);
        } else {
            host = text;
        }
        if (host.isEmpty() || !host.matches("[A-Za-z0-9.:%_-]+")) {
            throw malformed(monHost, entry);
        }
        int number = DEFAULT_PORT;
        if (port != null) {
            if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) < 1 || Integer.parseInt(port) > 65535) {
                throw malformed(monHost, entry);
            }
            number = Integer.parseInt(port);
        }
        return new Monitor(host, number);
    }

    private static InvalidInputException malformed(String monHost, String entry) {
        return new InvalidInputException("mon_host", monHost, "monitor addresses such as 10.0.0.1, 10.0.0.1:6789,"
                + " [v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0], [::1]:6789 or a host name (not '" + entry + "')");
    }

    private static String stripComment(String line) {
        int hash = line.indexOf('#');
        // ';' also separates monitors inside a value: only a line starting with it is a comment.
        if (line.strip().startsWith(";")) {
            return "";
        }
        return hash >= 0 ? line.substring(0, hash) : line;
    }

    private static String unquote(String value) {
        if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
            return value.substring(1, value.length() - 1);
        }
        return value;
    }
}
