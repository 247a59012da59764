package io.virtfleet.agent.enrollment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every attempt of one enrollment, across restarts, asks for a certificate for the same key. */
class EnrollmentKeyTest {
    @TempDir
    Path stateDir;

    @Test
    void theSameKeyUntilRemovedOwnerOnly() throws Exception {
        KeyPair first = EnrollmentKey.loadOrCreate(stateDir, "hv1");
        Path file = stateDir.resolve(EnrollmentKey.FILE);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));

        KeyPair again = EnrollmentKey.loadOrCreate(stateDir, "hv1");
        assertEquals(first.getPublic(), again.getPublic());
        // The reloaded private key signs for that public key: a request from it is what the controller verifies.
        assertEquals(first.getPublic(), CertificateAuthority.verifiedKey(Keys.signingRequest(again, "hv1")));

        EnrollmentKey.remove(stateDir);
        assertFalse(Files.exists(file));
        assertNotEquals(first.getPublic(), EnrollmentKey.loadOrCreate(stateDir, "hv1").getPublic(), "the next enrollment's key is new");
    }

    @Test
    void aFileWhoseKeysDoNotBelongTogetherIsRefusedNamingIt() throws Exception {
        KeyPair one = Keys.generate();
        KeyPair other = Keys.generate();
        Files.writeString(stateDir.resolve(EnrollmentKey.FILE), Pem.of(one.getPrivate(), Keys.signingRequest(other, "hv1")));
        IOException e = assertThrows(IOException.class, () -> EnrollmentKey.loadOrCreate(stateDir, "hv1"));
        assertTrue(e.getMessage().contains(EnrollmentKey.FILE) && e.getMessage().contains("remove it"), e.getMessage());
    }
}
