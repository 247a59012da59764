package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Metadata;
import io.virtfleet.common.security.FleetIdentity;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Login links work once and briefly; sessions last their lifetime and end with their operator's revocation. */
class DashboardLoginsTest {
    private Instant now = Instant.parse("2026-12-07T10:00:00Z");
    private final Map<String, Instant> revokedFrom = new HashMap<>();
    private final Clock clock = new Clock() {
        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    };
    private final DashboardLogins logins = new DashboardLogins(clock, Duration.ofHours(1),
            (name, issuedAt) -> revokedFrom.containsKey(name) && issuedAt.isBefore(revokedFrom.get(name)));
    private static final FleetIdentity ALICE = FleetIdentity.operator("alice", FleetIdentity.Role.VIEWER);
    private final Instant certificateIssued = now.minus(Duration.ofDays(3));

    @Test
    void aLinkStartsOneSessionAsItsOperatorAndWorksOnce() {
        DashboardLogins.Link link = logins.issue(ALICE, certificateIssued);
        assertEquals(43, link.token().length(), "256 random bits, base64url");
        var started = logins.redeem(link.token()).orElseThrow();
        assertEquals(ALICE, started.session().operator());
        assertFalse(started.session().admin());
        assertNotEquals(link.token(), started.secret());
        assertTrue(logins.redeem(link.token()).isEmpty(), "a link works once");
        assertEquals(ALICE, logins.session(started.secret()).orElseThrow().operator());
        Metadata headers = new Metadata();
        headers.put(DashboardLogins.SESSION_HEADER, started.secret());
        assertEquals(ALICE, logins.caller(headers).orElseThrow(), "in-process calls act as the session's operator");
        assertTrue(logins.caller(new Metadata()).isEmpty());
    }

    @Test
    void aLinkExpiresAfterFiveMinutes() {
        DashboardLogins.Link link = logins.issue(ALICE, certificateIssued);
        now = now.plus(DashboardLogins.LINK_LIFETIME);
        assertTrue(logins.redeem(link.token()).isEmpty());
    }

    @Test
    void aSessionEndsAtItsLifetimeAndAtLogout() {
        var started = logins.redeem(logins.issue(ALICE, certificateIssued).token()).orElseThrow();
        now = now.plus(Duration.ofMinutes(59));
        assertTrue(logins.session(started.secret()).isPresent());
        now = now.plus(Duration.ofMinutes(1));
        assertTrue(logins.session(started.secret()).isEmpty(), "expired after its lifetime");
        var again = logins.redeem(logins.issue(ALICE, certificateIssued).token()).orElseThrow();
        logins.end(again.secret());
        assertTrue(logins.session(again.secret()).isEmpty(), "ended by logout");
    }

    @Test
    void revokingTheOperatorEndsSessionsAndLinksMadeWithTheirOldCertificate() {
        var started = logins.redeem(logins.issue(ALICE, certificateIssued).token()).orElseThrow();
        DashboardLogins.Link pending = logins.issue(ALICE, certificateIssued);
        revokedFrom.put("alice", now);
        assertTrue(logins.session(started.secret()).isEmpty());
        assertTrue(logins.redeem(pending.token()).isEmpty());
        // A certificate issued after the revocation logs in again.
        now = now.plusSeconds(5);
        assertTrue(logins.redeem(logins.issue(ALICE, now).token()).isPresent());
    }

    @Test
    void unknownAndOversizedSecretsFindNothing() {
        assertTrue(logins.redeem("nope").isEmpty());
        assertTrue(logins.redeem("x".repeat(10_000)).isEmpty());
        assertTrue(logins.session(null).isEmpty());
        assertTrue(logins.session("").isEmpty());
    }

    @Test
    void onlyOperatorsGetLinks() {
        assertThrows(IllegalArgumentException.class, () -> logins.issue(FleetIdentity.agent("hv1"), certificateIssued));
    }

    @Test
    void csrfTokensCompareWhole() {
        assertTrue(DashboardLogins.same("abc", "abc"));
        assertFalse(DashboardLogins.same("abc", "abd"));
        assertFalse(DashboardLogins.same("abc", "ab"));
        assertFalse(DashboardLogins.same("abc", null));
    }
}
