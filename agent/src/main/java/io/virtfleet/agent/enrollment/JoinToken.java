package io.virtfleet.agent.enrollment;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A join token as the agent sees it: an opaque secret that also carries the fleet CA's fingerprint. */
public record JoinToken(String text, String caFingerprint) {
    private static final Pattern FORMAT =
            Pattern.compile("vfjoin1\\.[0-9a-f]{16}\\.[A-Za-z0-9_-]{43}\\.([0-9a-f]{64})");

    public static JoinToken parse(String field, String text) {
        Matcher m = FORMAT.matcher(text == null ? "" : text.strip());
        if (!m.matches()) {
            // Never echo a token back: it may be a real secret with a typo.
            throw new InvalidInputException(field, "(" + (text == null ? 0 : text.length()) + " characters, not shown)",
                    "a token printed by 'virtfleet agent token create' (vfjoin1.<id>.<secret>.<ca-sha256>)");
        }
        return new JoinToken(text.strip(), m.group(1));
    }

    @Override
    public String toString() {
        return "JoinToken[for CA " + caFingerprint.substring(0, 12) + "…]";
    }
}
