package io.virtfleet.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cephx key the agent hands to libvirt comes from the right section of the keyring, or a clear refusal. */
class CephKeyringTest {
    private static final String KEY = "AQBbNAhr/tHUIRAAoQc8kYIGhIyJ04M398LAPg==";

    @TempDir
    Path dir;

    @Test
    void theKeyOfTheNamedClientIsTakenFromItsOwnSection() throws Exception {
        Path keyring = Files.writeString(dir.resolve("keyring"), "[client.admin]\n\tkey = AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"
                + "[client.libvirt]\n\tcaps mon = \"profile rbd\"\n\tkey = " + KEY + "\n");
        assertEquals(KEY, CephKeyring.key(keyring, "libvirt"));
    }

    @Test
    void aMissingFileOrSectionOrABrokenKeyIsRefusedWithoutShowingTheKey() throws Exception {
        StorageException missing = assertThrows(StorageException.class, () -> CephKeyring.key(dir.resolve("none"), "libvirt"));
        assertTrue(missing.getMessage().startsWith("ceph-keyring " + dir.resolve("none") + " cannot be read"), missing.getMessage());

        Path other = Files.writeString(dir.resolve("other"), "[client.admin]\n\tkey = " + KEY + "\n");
        StorageException noSection = assertThrows(StorageException.class, () -> CephKeyring.key(other, "libvirt"));
        assertTrue(noSection.getMessage().contains("has no key for client.libvirt (expected a [client.libvirt] section"),
                noSection.getMessage());

        Path broken = Files.writeString(dir.resolve("broken"), "[client.libvirt]\n\tkey = not*base64!\n");
        StorageException bad = assertThrows(StorageException.class, () -> CephKeyring.key(broken, "libvirt"));
        assertTrue(bad.getMessage().contains("is not base64"), bad.getMessage());
        assertFalse(bad.getMessage().contains("not*base64!"), "a key, even a broken one, is not shown");
        assertEquals(StorageException.Kind.WRONG_STATE, bad.kind());
    }
}
