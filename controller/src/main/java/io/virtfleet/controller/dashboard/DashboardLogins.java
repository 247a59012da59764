package io.virtfleet.controller.dashboard;

import io.grpc.Metadata;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.FleetIdentity;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiPredicate;

/**
 * The dashboard's one-time login links and the browser sessions they start, in memory (a controller restart ends
 * every session: operators ask for a new link). Secrets are 256 random bits, shown once and kept only as their
 * SHA-256. A link works once and for {@link #LINK_LIFETIME}; a session lasts its lifetime and ends early when its
 * operator is revoked (asked at every request, as the gRPC port asks about certificates). Both are bounded in number.
 */
public final class DashboardLogins implements Authorization.SessionCallers {
    /** How long a login link may wait to be opened. */
    public static final Duration LINK_LIFETIME = Duration.ofMinutes(5);
    /** Header of the in-process calls the dashboard makes for a session: the session's secret. */
    static final Metadata.Key<String> SESSION_HEADER = Metadata.Key.of("virtfleet-dashboard-session", Metadata.ASCII_STRING_MARSHALLER);
    private static final int MAX_LINKS = 1000;
    private static final int MAX_SESSIONS = 1000;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A browser session: who it acts as, and the token its forms must send back (CSRF). */
    public record Session(FleetIdentity operator, Instant certificateIssuedAt, Instant expiresAt, String csrfToken) {
        public boolean admin() {
            return operator.role() == FleetIdentity.Role.ADMIN;
        }
    }

    /** A link's token, shown once, and when it stops working. */
    public record Link(String token, Instant expiresAt) {}

    /** A started session: its secret, for the cookie (shown once), and the session. */
    public record Started(String secret, Session session) {}

    private record Pending(FleetIdentity operator, Instant certificateIssuedAt, Instant expiresAt) {}

    private final Clock clock;
    private final Duration sessionLifetime;
    /** Whether an operator's grant made with a certificate issued at that instant was revoked since. */
    private final BiPredicate<String, Instant> revoked;
    private final Map<String, Pending> links = new ConcurrentHashMap<>();
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();

    /**
     * @param revoked whether operator (name) was revoked after a certificate of theirs issued at that instant:
     *                sessions started with such a certificate end
     */
    public DashboardLogins(Clock clock, Duration sessionLifetime, BiPredicate<String, Instant> revoked) {
        if (sessionLifetime.compareTo(Duration.ofMinutes(1)) < 0) {
            throw new IllegalArgumentException("session lifetime " + sessionLifetime + ": at least 1 minute");
        }
        this.clock = clock;
        this.sessionLifetime = sessionLifetime;
        this.revoked = revoked;
    }

    public Duration sessionLifetime() {
        return sessionLifetime;
    }

    /**
     * A new link for {@code operator}, whose certificate (verified by the caller's TLS) was issued at
     * {@code certificateIssuedAt}.
     */
    public Link issue(FleetIdentity operator, Instant certificateIssuedAt) {
        if (operator.kind() != FleetIdentity.Kind.OPERATOR) {
            throw new IllegalArgumentException("only operators log in to the dashboard, not " + operator);
        }
        Instant now = clock.instant();
        links.values().removeIf(p -> !now.isBefore(p.expiresAt()));
        if (links.size() >= MAX_LINKS) {
            throw new IllegalStateException("already " + links.size() + " unused login links; wait for some to expire ("
                    + LINK_LIFETIME.toMinutes() + " minutes)");
        }
        String token = secret();
        Instant expires = now.plus(LINK_LIFETIME);
        links.put(hash(token), new Pending(operator, certificateIssuedAt, expires));
        return new Link(token, expires);
    }

    /**
     * The operator a link would start a session for, without spending it (the page that asks to log in): empty when
     * it is unknown, used, expired or its operator revoked.
     */
    public Optional<FleetIdentity> operatorOf(String token) {
        if (token == null || token.isEmpty() || token.length() > 100) {
            return Optional.empty();
        }
        Pending pending = links.get(hash(token));
        if (pending == null || !clock.instant().isBefore(pending.expiresAt())
                || revoked.test(pending.operator().name(), pending.certificateIssuedAt())) {
            return Optional.empty();
        }
        return Optional.of(pending.operator());
    }

    /** Spends a link: the session it starts, or empty when it is unknown, used, expired or its operator revoked. */
    public Optional<Started> redeem(String token) {
        if (token == null || token.isEmpty() || token.length() > 100) {
            return Optional.empty();
        }
        Pending pending = links.remove(hash(token));
        Instant now = clock.instant();
        if (pending == null || !now.isBefore(pending.expiresAt())
                || revoked.test(pending.operator().name(), pending.certificateIssuedAt())) {
            return Optional.empty();
        }
        sessions.values().removeIf(s -> !now.isBefore(s.expiresAt()));
        if (sessions.size() >= MAX_SESSIONS) {
            return Optional.empty();
        }
        String secret = secret();
        Session session = new Session(pending.operator(), pending.certificateIssuedAt(), now.plus(sessionLifetime), secret());
        sessions.put(hash(secret), session);
        return Optional.of(new Started(secret, session));
    }

    /** The live session whose secret this is; an expired or revoked one is dropped. */
    public Optional<Session> session(String secret) {
        if (secret == null || secret.isEmpty() || secret.length() > 100) {
            return Optional.empty();
        }
        String key = hash(secret);
        Session s = sessions.get(key);
        if (s == null) {
            return Optional.empty();
        }
        if (!clock.instant().isBefore(s.expiresAt()) || revoked.test(s.operator().name(), s.certificateIssuedAt())) {
            sessions.remove(key);
            return Optional.empty();
        }
        return Optional.of(s);
    }

    /** Ends a session (logout). */
    public void end(String secret) {
        if (secret != null && !secret.isEmpty() && secret.length() <= 100) {
            sessions.remove(hash(secret));
        }
    }

    @Override
    public Optional<FleetIdentity> caller(Metadata headers) {
        return session(headers.get(SESSION_HEADER)).map(Session::operator);
    }

    /** Whether two secrets are equal, in time that does not depend on where they differ. */
    static boolean same(String expected, String given) {
        return given != null && MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                given.getBytes(StandardCharsets.UTF_8));
    }

    /** 256 random bits, base64url. */
    static String secret() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    private static String hash(String secret) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
