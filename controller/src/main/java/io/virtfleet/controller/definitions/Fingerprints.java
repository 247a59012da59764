package io.virtfleet.controller.definitions;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The fingerprint agents report of the definition they were sent (DomainInfo.source_sha256): SHA-256 of the
 * XML's UTF-8 bytes, lowercase hex. Computed the same way here, it tells whether a host holds the repository's
 * current definition.
 */
public final class Fingerprints {
    private Fingerprints() {}

    public static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
