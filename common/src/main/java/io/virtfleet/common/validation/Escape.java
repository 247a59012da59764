package io.virtfleet.common.validation;

/** Renders untrusted text safely for messages and logs: printable ASCII only, bounded length. */
public final class Escape {
    private static final int MAX_SHOWN = 80;

    private Escape() {}

    /** The value in double quotes, non-printable and non-ASCII characters as \\uXXXX, cut after 80 chars. */
    public static String quoted(String value) {
        if (value == null) {
            return "(missing)";
        }
        StringBuilder out = new StringBuilder(Math.min(value.length(), MAX_SHOWN) + 16).append('"');
        int shown = Math.min(value.length(), MAX_SHOWN);
        for (int i = 0; i < shown; i++) {
            char c = value.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c >= 0x20 && c < 0x7f) {
                out.append(c);
            } else {
                out.append(String.format("\\u%04x", (int) c));
            }
        }
        out.append('"');
        if (value.length() > MAX_SHOWN) {
            out.append(" (").append(value.length()).append(" characters, first ").append(MAX_SHOWN).append(" shown)");
        }
        return out.toString();
    }
}
