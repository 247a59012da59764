package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.FileSync;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which certificates a revocation refuses, to the second, with the clock set by the test. */
class RevokedOperatorsTest {
    private static final Instant REVOKED = Instant.parse("2026-03-01T12:00:00.900Z");
    private static final FleetIdentity BOB = FleetIdentity.operator("bob", FleetIdentity.Role.VIEWER);

    @TempDir
    Path dir;

    @Test
    void certificatesIssuedUpToTheRevocationAreRefusedAndThoseAfterItInTheSameSecondAreNot() throws Exception {
        CertificateAuthority ca = CertificateAuthority.loadOrCreate(dir.resolve("pki"), Clock.fixed(REVOKED, ZoneOffset.UTC));
        RevokedOperators revoked = RevokedOperators.open(dir.resolve(RevokedOperators.FILE));
        X509Certificate before = issue(ca, BOB, Instant.parse("2026-03-01T12:00:00.800Z"));
        X509Certificate earlier = issue(ca, BOB, Instant.parse("2026-02-01T08:00:00Z"));
        X509Certificate alice = issue(ca, FleetIdentity.operator("alice", FleetIdentity.Role.ADMIN), REVOKED.minusSeconds(60));
        assertTrue(revoked.refusal(BOB, before).isEmpty(), "nothing revoked yet");

        assertEquals(Instant.parse("2026-03-01T12:00:01Z"), revoked.revoke("bob", REVOKED));
        assertTrue(revoked.refusal(BOB, before).isPresent());
        assertTrue(revoked.refusal(BOB, earlier).isPresent());
        assertTrue(revoked.refusal(FleetIdentity.operator("alice", FleetIdentity.Role.ADMIN), alice).isEmpty(), "only bob");

        // Issued 50 ms after the revocation, in its second: dated to the next second, so accepted.
        Instant sameSecond = Instant.parse("2026-03-01T12:00:00.950Z");
        X509Certificate after = issue(ca, BOB, revoked.issueAt("bob", sameSecond));
        assertTrue(revoked.refusal(BOB, after).isEmpty(), () -> "issued at " + CertificateAuthority.issuedAt(after));
        assertTrue(after.getNotBefore().toInstant().isBefore(sameSecond), "and valid at once");

        // Durable: a fresh read of the file says the same.
        RevokedOperators reread = RevokedOperators.open(dir.resolve(RevokedOperators.FILE));
        assertTrue(reread.refusal(BOB, before).isPresent());
        assertTrue(reread.refusal(BOB, after).isEmpty());
    }

    /** A disk that refuses every sync, as on an I/O error. */
    static FileSync failingSync() {
        return new io.virtfleet.controller.testkit.FailingSync();
    }

    @Test
    void aRevocationThatCannotBeSavedIsNotInForce() throws Exception {
        Path file = dir.resolve(RevokedOperators.FILE);
        RevokedOperators revoked = RevokedOperators.open(file);
        revoked.revoke("alice", REVOKED.minusSeconds(3600));
        try (var scope = FileSync.during(failingSync())) {
            assertThrows(IOException.class, () -> revoked.revoke("bob", REVOKED));
        }
        // The caller was told it failed: in force now it would be gone silently at the next restart.
        assertEquals(REVOKED, revoked.issueAt("bob", REVOKED), "bob's revocation not in force");
        assertEquals(RevokedOperators.open(file).issueAt("bob", REVOKED), revoked.issueAt("bob", REVOKED));
        assertEquals(Instant.parse("2026-03-01T11:00:01Z"), revoked.issueAt("alice", REVOKED.minusSeconds(3600)),
                "the earlier revocation stays");
        assertEquals(Instant.parse("2026-03-01T12:00:01Z"), revoked.revoke("bob", REVOKED), "a retry revokes");
        assertEquals(Instant.parse("2026-03-01T12:00:01Z"), RevokedOperators.open(file).issueAt("bob", REVOKED));
    }

    @Test
    void aDamagedFileIsRefusedNamingTheLine() throws Exception {
        Files.writeString(dir.resolve(RevokedOperators.FILE), "bob 1000\nalice soon\n");
        IOException e = assertThrows(IOException.class, () -> RevokedOperators.open(dir.resolve(RevokedOperators.FILE)));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        assertFalse(e.getMessage().isEmpty());
    }

    private static X509Certificate issue(CertificateAuthority ca, FleetIdentity who, Instant at) throws Exception {
        return ca.issue(Keys.generate().getPublic(), who, Duration.ofDays(1), List.of(), at);
    }
}
