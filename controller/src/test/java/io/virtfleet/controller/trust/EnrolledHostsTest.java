package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.FileSync;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which certificate serials speak for a host, in memory and on the disk alike. */
class EnrolledHostsTest {
    @TempDir
    Path dir;

    @Test
    void aHostChangeThatCannotBeSavedLeavesTheHostsCertificatesAsTheyWere() throws Exception {
        Path file = dir.resolve("enrolled-hosts");
        EnrolledHosts hosts = new EnrolledHosts(file);
        hosts.enrolled("hv1", java.math.BigInteger.ONE);
        try (var scope = FileSync.during(RevokedOperatorsTest.failingSync())) {
            assertThrows(IOException.class, () -> hosts.renewed("hv1", java.math.BigInteger.ONE, java.math.BigInteger.TWO));
            assertThrows(IOException.class, () -> hosts.enrolled("hv1", java.math.BigInteger.TEN));
            assertThrows(IOException.class, () -> hosts.forget("hv1"));
        }
        assertTrue(hosts.accepts("hv1", java.math.BigInteger.ONE), "the certificate on the disk still speaks for hv1");
        assertFalse(hosts.accepts("hv1", java.math.BigInteger.TWO), "the renewal was not saved");
        assertFalse(hosts.accepts("hv1", java.math.BigInteger.TEN), "the enrollment was not saved");
        assertTrue(new EnrolledHosts(file).accepts("hv1", java.math.BigInteger.ONE));
        hosts.forget("hv1");
        assertFalse(hosts.isEnrolled("hv1"));
        assertFalse(new EnrolledHosts(file).isEnrolled("hv1"));
    }
}
