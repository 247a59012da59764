package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One-time join tokens: used once, before they expire, by the host they name, and never stored in clear. */
class JoinTokensTest {
    private static final String CA = "a".repeat(64);

    @TempDir
    Path dir;

    private Instant now = Instant.parse("2026-11-26T10:00:00Z");
    private final Clock clock = new Clock() {
        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    };

    private JoinTokens tokens() throws Exception {
        return new JoinTokens(dir.resolve("join-tokens"), clock, CA);
    }

    @Test
    void aTokenCarriesAtLeast128BitsAndTheCaFingerprintAndIsStoredOnlyHashed() throws Exception {
        JoinTokens.Issued issued = tokens().create(Duration.ofHours(1), "", false);
        String[] parts = issued.token().split("\\.");
        assertEquals(4, parts.length);
        assertEquals(43, parts[2].length(), "256-bit secret, base64url");
        assertEquals(CA, parts[3]);
        String stored = Files.readString(dir.resolve("join-tokens"));
        assertTrue(!stored.contains(parts[2]), "the secret never reaches the disk");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("join-tokens"))));
    }

    @Test
    void aTokenWorksOnceEvenAcrossARestart() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "", false).token();
        assertEquals("hv1", tokens().redeem(token, "hv1", false).hostName());
        JoinRefusedException again = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv2", false));
        assertTrue(again.getMessage().contains("was already used at 2026-11-26T10:00:00Z"), again.getMessage());
    }

    @Test
    void anExpiredTokenIsRefused() throws Exception {
        String token = tokens().create(Duration.ofMinutes(30), "", false).token();
        now = now.plus(Duration.ofMinutes(30));
        JoinRefusedException e = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv1", false));
        assertTrue(e.getMessage().contains("expired at 2026-11-26T10:30:00Z"), e.getMessage());
    }

    @Test
    void aWrongSecretOrForeignCaOrGarbageIsRefused() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "", false).token();
        String[] p = token.split("\\.");
        String wrongSecret = p[0] + "." + p[1] + "." + "A".repeat(43) + "." + p[3];
        assertEquals("unknown join token",
                assertThrows(JoinRefusedException.class, () -> tokens().redeem(wrongSecret, "hv1", false)).getMessage());
        String otherCa = p[0] + "." + p[1] + "." + p[2] + "." + "b".repeat(64);
        assertEquals("join token was made by another fleet CA",
                assertThrows(JoinRefusedException.class, () -> tokens().redeem(otherCa, "hv1", false)).getMessage());
        for (String garbage : new String[] {"", "vfjoin1", "$(reboot)", token + "x", token.toUpperCase()}) {
            assertThrows(JoinRefusedException.class, () -> tokens().redeem(garbage, "hv1", false), garbage);
        }
        assertEquals("hv1", tokens().redeem(token, "hv1", false).hostName(), "failed attempts do not use the token up");
    }

    @Test
    void aTokenForOneHostEnrollsOnlyThatHost() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "hv7", true).token();
        JoinRefusedException e = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv8", false));
        assertTrue(e.getMessage().endsWith("is for host hv7, not hv8"), e.getMessage());
        JoinTokens.Grant grant = tokens().redeem(token, "hv7", false);
        assertTrue(grant.reenroll());
    }
}
