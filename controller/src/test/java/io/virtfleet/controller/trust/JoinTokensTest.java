package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One-time join tokens: used once, before they expire, by the host they name, and never stored in clear. */
class JoinTokensTest {
    private static final String CA = "a".repeat(64);
    private static final String KEY = "1".repeat(64);
    private static final String OTHER_KEY = "2".repeat(64);

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
    void aUseThatCannotBeSavedLeavesTheTokenUnusedSoNoRetryRestsOnIt() throws Exception {
        JoinTokens tokens = tokens();
        String token = tokens.create(Duration.ofHours(1), "", false).token();
        try (var scope = io.virtfleet.common.files.FileSync.during(RevokedOperatorsTest.failingSync())) {
            assertThrows(java.io.IOException.class, () -> tokens.redeem(token, "hv1", false, KEY));
        }
        // Were the use in memory only, this would be a retry of an enrollment that a restart forgets.
        assertFalse(tokens.redeem(token, "hv1", false, KEY).retry(), "a first use, now saved");
        assertTrue(tokens().redeem(token, "hv1", false, KEY).retry(), "on the disk: a retry after a restart");
        assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv2", false, OTHER_KEY));

        try (var scope = io.virtfleet.common.files.FileSync.during(RevokedOperatorsTest.failingSync())) {
            assertThrows(java.io.IOException.class, () -> tokens.endRetriesFor("hv1"));
        }
        assertTrue(tokens.redeem(token, "hv1", false, KEY).retry(), "the retry ends only once that is saved");
        tokens.endRetriesFor("hv1");
        assertThrows(JoinRefusedException.class, () -> tokens.redeem(token, "hv1", false, KEY));
        assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv1", false, KEY));
    }

    @Test
    void aTokenWorksOnceEvenAcrossARestart() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "", false).token();
        assertEquals("hv1", tokens().redeem(token, "hv1", false, KEY).hostName());
        JoinRefusedException again = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv2", false, KEY));
        assertTrue(again.getMessage().contains("was already used at 2026-11-26T10:00:00Z"), again.getMessage());
    }

    @Test
    void anExpiredTokenIsRefused() throws Exception {
        String token = tokens().create(Duration.ofMinutes(30), "", false).token();
        now = now.plus(Duration.ofMinutes(30));
        JoinRefusedException e = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv1", false, KEY));
        assertTrue(e.getMessage().contains("expired at 2026-11-26T10:30:00Z"), e.getMessage());
    }

    @Test
    void aWrongSecretOrForeignCaOrGarbageIsRefused() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "", false).token();
        String[] p = token.split("\\.");
        String wrongSecret = p[0] + "." + p[1] + "." + "A".repeat(43) + "." + p[3];
        assertEquals("unknown join token",
                assertThrows(JoinRefusedException.class, () -> tokens().redeem(wrongSecret, "hv1", false, KEY)).getMessage());
        String otherCa = p[0] + "." + p[1] + "." + p[2] + "." + "b".repeat(64);
        assertEquals("join token was made by another fleet CA",
                assertThrows(JoinRefusedException.class, () -> tokens().redeem(otherCa, "hv1", false, KEY)).getMessage());
        for (String garbage : new String[] {"", "vfjoin1", "$(reboot)", token + "x", token.toUpperCase()}) {
            assertThrows(JoinRefusedException.class, () -> tokens().redeem(garbage, "hv1", false, KEY), garbage);
        }
        assertEquals("hv1", tokens().redeem(token, "hv1", false, KEY).hostName(), "failed attempts do not use the token up");
    }

    @Test
    void aTokenForOneHostEnrollsOnlyThatHost() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "hv7", true).token();
        JoinRefusedException e = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv8", false, KEY));
        assertTrue(e.getMessage().endsWith("is for host hv7, not hv8"), e.getMessage());
        JoinTokens.Grant grant = tokens().redeem(token, "hv7", false, KEY);
        assertTrue(grant.reenroll());
    }

    @Test
    void theSameHostAndKeyGetTheirEnrollmentAgainUntilTheTokenExpiresAcrossARestart() throws Exception {
        String token = tokens().create(Duration.ofHours(1), "", false).token();
        JoinTokens.Grant first = tokens().redeem(token, "hv1", false, KEY);
        assertFalse(first.retry());
        now = now.plus(Duration.ofMinutes(5));
        // The controller enrolled hv1 (so it is enrolled now); its agent never heard back and asks again.
        JoinTokens.Grant again = tokens().redeem(token, "hv1", true, KEY);
        assertTrue(again.retry());
        assertEquals(first.tokenId(), again.tokenId());
        assertEquals("hv1", again.hostName());
        assertTrue(tokens().redeem(token, "hv1", true, KEY).retry(), "as often as it takes");

        JoinRefusedException otherKey = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv1", true, OTHER_KEY));
        assertTrue(otherKey.getMessage().contains("was already used at 2026-11-26T10:00:00Z"), otherKey.getMessage());
        JoinRefusedException otherHost = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv2", false, KEY));
        assertTrue(otherHost.getMessage().contains("was already used"), otherHost.getMessage());
        JoinRefusedException otherBoth = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv2", false, OTHER_KEY));
        assertTrue(otherBoth.getMessage().contains("was already used"), otherBoth.getMessage());

        now = Instant.parse("2026-11-26T11:00:00Z");
        JoinRefusedException expired = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv1", true, KEY));
        assertTrue(expired.getMessage().contains("was already used"), expired.getMessage());
    }

    @Test
    void aRetryIsRefusedOnceTheHostWasForgottenOrRenewedOrReEnrolledWithAnotherToken() throws Exception {
        String forgotten = tokens().create(Duration.ofHours(1), "hv1", false).token();
        tokens().redeem(forgotten, "hv1", false, KEY);
        // The controller stopped before it stored hv1 as enrolled: the agent's retry still completes it.
        assertTrue(tokens().redeem(forgotten, "hv1", false, KEY).retry());
        tokens().endRetriesFor("hv1");
        assertThrows(JoinRefusedException.class, () -> tokens().redeem(forgotten, "hv1", false, KEY),
                "the host was forgotten (or renewed) since: its enrollment is not retried");

        String token = tokens().create(Duration.ofHours(1), "hv1", true).token();
        tokens().redeem(token, "hv1", false, KEY);

        now = now.plus(Duration.ofMinutes(1));
        String reenroll = tokens().create(Duration.ofHours(1), "hv1", true).token();
        tokens().redeem(reenroll, "hv1", true, OTHER_KEY);
        now = now.plus(Duration.ofMinutes(1));
        JoinRefusedException replaced = assertThrows(JoinRefusedException.class, () -> tokens().redeem(token, "hv1", true, KEY));
        assertTrue(replaced.getMessage().contains("was already used"), replaced.getMessage());
        assertTrue(tokens().redeem(reenroll, "hv1", true, OTHER_KEY).retry(), "the latest enrollment can still be retried");
    }

    @Test
    void aTokenFileWithoutTheKeyFieldsStillLoads() throws Exception {
        String used = tokens().create(Duration.ofHours(1), "", false).token();
        String unused = tokens().create(Duration.ofHours(1), "", false).token();
        tokens().redeem(used, "hv1", false, KEY);
        Path file = dir.resolve("join-tokens");
        List<String> lines = Files.readAllLines(file);
        assertEquals(8, lines.get(0).split(" ").length, lines.toString());
        assertEquals(6, lines.get(1).split(" ").length, "an unused token is stored as before");
        // The format before used tokens named their host and key: six fields.
        Files.write(file, List.of(String.join(" ", Arrays.copyOf(lines.get(0).split(" "), 6)), lines.get(1)));

        JoinRefusedException e = assertThrows(JoinRefusedException.class, () -> tokens().redeem(used, "hv1", true, KEY));
        assertTrue(e.getMessage().contains("was already used at 2026-11-26T10:00:00Z"), e.getMessage());
        assertFalse(tokens().redeem(unused, "hv2", false, KEY).retry());
    }
}
