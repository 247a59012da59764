package io.virtfleet.controller.ovh;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * OVH's request signature, as OVH documents it for its API: {@code "$1$"} followed by the SHA-1, in lowercase hex,
 * of the application secret, the consumer key, the HTTP method, the full URL as sent (query included), the body as
 * sent ("" when none) and the timestamp, joined by {@code +}. OVH recomputes it and refuses a request whose
 * signature differs, so the URL and the body signed must be byte for byte those sent.
 */
final class OvhSignature {
    private OvhSignature() {}

    static String of(String applicationSecret, String consumerKey, String method, String url, String body, long timestamp) {
        String text = applicationSecret + "+" + consumerKey + "+" + method + "+" + url + "+" + body + "+" + timestamp;
        try {
            byte[] digest = MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8));
            return "$1$" + HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-1", e);
        }
    }
}
