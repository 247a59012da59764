package io.virtfleet.controller.trust;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One-time join tokens for enrolling agents. A token is {@code vfjoin1.<id>.<secret>.<ca-sha256>}: the id
 * finds it, the 256-bit secret proves it (only its SHA-256 is stored), and the CA fingerprint lets the
 * agent check it reached this controller before it sends the secret. A token works once, until it
 * expires, and optionally for one host name only. Kept in a file so a controller restart loses none.
 *
 * <p>A used token remembers the host name and the key (SHA-256 of the signing request's public key) it was used
 * for, so that an agent which never received its certificate (a reset connection, a deadline) can retry: the same
 * token, host and key get that enrollment's certificate again until the token expires. Only the holder of the
 * private key can ask for it, since the endpoint checks the request is signed by its key.
 */
public final class JoinTokens {
    public static final Duration MAX_TTL = Duration.ofDays(7);
    private static final Pattern FORMAT =
            Pattern.compile("vfjoin1\\.([0-9a-f]{16})\\.([A-Za-z0-9_-]{43})\\.([0-9a-f]{64})");
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A token as handed to the operator: the secret text is known only here and now. */
    public record Issued(String token, Instant expiresAt, String hostName, boolean reenroll) {}

    /**
     * What a redeemed token allows. {@code retry} says the token had already enrolled this host with this key:
     * the agent is asking again for the certificate it did not receive.
     */
    public record Grant(String tokenId, String hostName, boolean reenroll, boolean retry) {}

    /**
     * One token as stored: a line of space-separated fields. {@code usedBy} and {@code usedKey} (the host name
     * and key a used token enrolled) were added later as two optional trailing fields, so older files still load;
     * a token used before then has neither, and cannot be retried.
     */
    private record Stored(String id, String secretHash, Instant expiresAt, String hostName, boolean reenroll,
                          Instant usedAt, String usedBy, String usedKey) {
        String line() {
            String line = String.join(" ", id, secretHash, Long.toString(expiresAt.toEpochMilli()),
                    hostName.isEmpty() ? "-" : hostName, Boolean.toString(reenroll),
                    usedAt == null ? "-" : Long.toString(usedAt.toEpochMilli()));
            return usedKey.isEmpty() ? line : line + " " + usedBy + " " + usedKey;
        }

        static Stored parse(String line) {
            String[] f = line.split(" ");
            return new Stored(f[0], f[1], Instant.ofEpochMilli(Long.parseLong(f[2])), f[3].equals("-") ? "" : f[3],
                    Boolean.parseBoolean(f[4]), f[5].equals("-") ? null : Instant.ofEpochMilli(Long.parseLong(f[5])),
                    f.length >= 8 ? f[6] : "", f.length >= 8 ? f[7] : "");
        }

        /** Whether this used token enrolled {@code host} with the key of SHA-256 {@code key}. */
        boolean enrolled(String host, String key) {
            return !usedKey.isEmpty() && usedBy.equals(host) && MessageDigest.isEqual(
                    usedKey.getBytes(StandardCharsets.US_ASCII), key.getBytes(StandardCharsets.US_ASCII));
        }
    }

    private final Path file;
    private final Clock clock;
    private final String caFingerprint;
    /** Replaced whole once the file holds its successor (see {@link #commit}): never ahead of the disk. */
    private Map<String, Stored> tokens = new LinkedHashMap<>();
    /**
     * A copy of {@link #tokens} read without the lock, which is held across file writes: {@link #checkKnown} runs on
     * gRPC event loops, which must not wait for them.
     */
    private volatile Map<String, Stored> known = Map.of();

    public JoinTokens(Path file, Clock clock, String caFingerprint) throws IOException {
        this.file = file;
        this.clock = clock;
        this.caFingerprint = caFingerprint;
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
                if (!line.isBlank()) {
                    Stored s = Stored.parse(line);
                    tokens.put(s.id(), s);
                }
            }
        }
        known = Map.copyOf(tokens);
    }

    /**
     * Drops from a join tokens' file every token unexpired at {@code now}, used or not, durably (a restore does this:
     * a token of the backup may have been used since, and would enroll a host again; a used one's retries would
     * resend a certificate). Expired ones stay, as they were. Returns how many were dropped; a missing file is none.
     */
    public static int dropUnexpired(Path file, Instant now) throws IOException {
        if (!Files.exists(file)) {
            return 0;
        }
        List<String> kept = new java.util.ArrayList<>();
        int dropped = 0;
        for (String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
            if (line.isBlank()) {
                continue;
            }
            Stored s;
            try {
                s = Stored.parse(line);
            } catch (RuntimeException e) {
                throw new IOException(file + ": a line that is no join token (" + e.getMessage() + ")", e);
            }
            if (s.expiresAt().isAfter(now)) {
                dropped++;
            } else {
                kept.add(line);
            }
        }
        if (dropped > 0) {
            StateFiles.writePrivate(file, kept.isEmpty() ? "" : String.join("\n", kept) + "\n");
        }
        return dropped;
    }

    public synchronized Issued create(Duration ttl, String hostName, boolean reenroll) throws IOException {
        byte[] id = new byte[8];
        byte[] secret = new byte[32];
        RANDOM.nextBytes(id);
        RANDOM.nextBytes(secret);
        String idText = HexFormat.of().formatHex(id);
        String secretText = Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
        Instant expires = clock.instant().plus(ttl);
        Map<String, Stored> next = new LinkedHashMap<>(tokens);
        next.put(idText, new Stored(idText, sha256(secretText), expires, hostName, reenroll, null, "", ""));
        commit(next);
        return new Issued("vfjoin1." + idText + "." + secretText + "." + caFingerprint, expires, hostName, reenroll);
    }

    /**
     * Uses up a token to enroll {@code hostName} with a key, or says why it cannot; a token refused stays as it
     * was. A used token is granted again (a {@link Grant#retry() retry}) only to the host name and key it
     * enrolled, before it expires, while that enrollment is still the host's latest and the host was not forgotten.
     *
     * @param hostEnrolled whether {@code hostName} is enrolled already: only a re-enrollment token may
     *     enroll it again
     * @param keySha256    hex SHA-256 of the signing request's SubjectPublicKeyInfo, whose signature the caller
     *     has verified
     */
    public synchronized Grant redeem(String token, String hostName, boolean hostEnrolled, String keySha256)
            throws JoinRefusedException, IOException {
        if (keySha256 == null || !keySha256.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("key fingerprint must be 64 lowercase hex digits, got " + keySha256);
        }
        Instant now = clock.instant();
        Stored stored = usable(tokens, token, hostName, now);
        if (stored.usedAt() != null) {
            // Not asked whether the host is enrolled: the controller may have stopped between this file and the
            // enrolled hosts' (forgetting or renewing the host takes the retry away, see endRetriesFor).
            if (stored.enrolled(hostName, keySha256) && latestFor(hostName) == stored) {
                return new Grant(stored.id(), hostName, stored.reenroll(), true);
            }
            throw new JoinRefusedException("join token " + stored.id() + " was already used at " + stored.usedAt());
        }
        if (!stored.hostName().isEmpty() && !stored.hostName().equals(hostName)) {
            throw new JoinRefusedException("join token " + stored.id() + " is for host " + stored.hostName()
                    + ", not " + hostName);
        }
        if (hostEnrolled && !stored.reenroll()) {
            throw new JoinRefusedException("host " + hostName + " is already enrolled; to replace its certificate,"
                    + " create a token with: virtfleet agent token create --host " + hostName + " --reenroll");
        }
        // On disk before memory: a failed write leaves the token unused, so no retry can be granted from a use
        // that a restart would forget (and a token without a host could then enroll a second machine).
        Map<String, Stored> next = new LinkedHashMap<>(tokens);
        next.put(stored.id(), new Stored(stored.id(), stored.secretHash(), stored.expiresAt(), stored.hostName(),
                stored.reenroll(), now, hostName, keySha256));
        commit(next);
        return new Grant(stored.id(), hostName, stored.reenroll(), false);
    }

    /**
     * Takes the retry away from the tokens that enrolled {@code host}: once an operator forgets a host, its agent
     * (or whoever holds its key) cannot bring it back with the token it used; and once the host renews, it has
     * shown it received its certificate, and a copy of its first key must not replace the renewed one.
     */
    public synchronized void endRetriesFor(String host) throws IOException {
        boolean changed = false;
        Map<String, Stored> next = new LinkedHashMap<>(tokens);
        for (Stored s : tokens.values()) {
            if (s.usedBy().equals(host)) {
                next.put(s.id(), new Stored(s.id(), s.secretHash(), s.expiresAt(), s.hostName(), s.reenroll(),
                        s.usedAt(), "", ""));
                changed = true;
            }
        }
        if (changed) {
            commit(next);
        }
    }

    /**
     * The token that enrolled {@code host} last. A retry is the same enrollment only while no later token
     * (a re-enrollment) replaced it; a later token is kept at least as long as the earlier one is valid.
     */
    private Stored latestFor(String host) {
        Stored latest = null;
        for (Stored s : tokens.values()) {
            if (s.usedAt() != null && s.usedBy().equals(host) && (latest == null || !s.usedAt().isBefore(latest.usedAt()))) {
                latest = s;
            }
        }
        return latest;
    }

    /**
     * Refuses a token that is not a live one of this controller's (wrong shape, another CA, unknown id, wrong secret,
     * used, expired) from memory, without the lock or any I/O: anyone may call Enroll, so only a caller who holds a
     * live token's secret gets to wait for the enrollment worker. {@link #redeem} checks again, under the lock.
     */
    public void checkKnown(String token, String hostName) throws JoinRefusedException {
        usable(known, token, hostName, clock.instant());
    }

    /**
     * The live token, or a used one that {@code hostName} may be retrying with (whether the key is the same is
     * {@link #redeem}'s to check, once the signing request is verified); refuses every other.
     */
    private Stored usable(Map<String, Stored> table, String token, String hostName, Instant now)
            throws JoinRefusedException {
        Matcher m = shaped(token);
        Stored stored = table.get(m.group(1));
        if (stored == null) {
            throw new JoinRefusedException("unknown join token", false);
        }
        if (!MessageDigest.isEqual(
                stored.secretHash().getBytes(StandardCharsets.US_ASCII), sha256(m.group(2)).getBytes(StandardCharsets.US_ASCII))) {
            throw new JoinRefusedException("unknown join token"); // the same answer: the id alone proves nothing
        }
        if (stored.usedAt() != null && (stored.usedBy().isEmpty() || !stored.usedBy().equals(hostName)
                || !now.isBefore(stored.expiresAt()))) {
            throw new JoinRefusedException("join token " + stored.id() + " was already used at " + stored.usedAt());
        }
        if (!now.isBefore(stored.expiresAt())) {
            throw new JoinRefusedException("join token " + stored.id() + " expired at " + stored.expiresAt());
        }
        return stored;
    }

    private Matcher shaped(String token) throws JoinRefusedException {
        Matcher m = FORMAT.matcher(token == null ? "" : token);
        if (!m.matches()) {
            throw new JoinRefusedException("join token is malformed (expected vfjoin1.<id>.<secret>.<ca-sha256>)", false);
        }
        if (!m.group(3).equals(caFingerprint)) {
            throw new JoinRefusedException("join token was made by another fleet CA", false);
        }
        return m;
    }

    /** Writes {@code next} to the file, then makes it the tokens: a failed write changes nothing. */
    private void commit(Map<String, Stored> next) throws IOException {
        Instant forgetBefore = clock.instant().minus(MAX_TTL); // old expired tokens serve no one
        next.values().removeIf(t -> t.expiresAt().isBefore(forgetBefore));
        List<String> lines = new ArrayList<>();
        for (Stored s : next.values()) {
            lines.add(s.line());
        }
        StateFiles.writePrivate(file, String.join("\n", lines) + "\n");
        tokens = next;
        known = Map.copyOf(next);
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.US_ASCII)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
