package io.virtfleet.common.fingerprint;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The fingerprint of a domain definition, as agents report it (DomainInfo.source_sha256...) and the controller
 * compares it with its repository's files: SHA-256 of the text's UTF-8 bytes, lowercase hex. One definition for
 * both sides, so they cannot drift apart.
 */
public final class Sha256 {
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

    private Sha256() {}

    public static String hex(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /** Whether {@code text} looks like one of these fingerprints. */
    public static boolean isHex(String text) {
        return text != null && HEX.matcher(text).matches();
    }
}
