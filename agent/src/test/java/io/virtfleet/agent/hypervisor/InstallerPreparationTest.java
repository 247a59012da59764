package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The installer's initrd prepared in the background when Debian's files come after the agent's start, or when
 * the start could not write it: tried again a minute after a failure, not at every report.
 */
class InstallerPreparationTest {
    @TempDir
    Path dir;

    @Test
    void debiansFilesInstalledAfterTheStartArePreparedAndAFailureIsTriedAgainAMinuteLater() throws Exception {
        Path debian = dir.resolve("debian");
        Path prepared = dir.resolve("images/.virtfleet-installer");
        InstallerFiles files = InstallerFiles.prepare(debian, prepared); // no package yet
        AtomicLong now = new AtomicLong();
        InstallerPreparation preparation = new InstallerPreparation(files, now::get);
        assertTrue(preparation.soon().isEmpty(), "nothing to prepare without Debian's files");

        Files.createDirectories(debian);
        Files.write(debian.resolve("linux"), new byte[] {1, 2, 3});
        Files.writeString(debian.resolve("initrd.gz"), "debian's initrd");
        Files.createDirectories(prepared.getParent());
        Files.writeString(prepared, "a file where the directory must go"); // writing fails, even as root
        preparation.soon().orElseThrow().get(30, TimeUnit.SECONDS);
        assertFalse(files.available());
        now.addAndGet(InstallerPreparation.RETRY_AFTER_NANOS - 1);
        assertTrue(preparation.soon().isEmpty(), "not again within a minute of the failure");

        Files.delete(prepared);
        now.addAndGet(2);
        preparation.soon().orElseThrow(() -> new AssertionError("again a minute later")).get(30, TimeUnit.SECONDS);
        assertTrue(files.available(), "prepared: the host reports its installer files from now on");
        assertTrue(preparation.soon().isEmpty(), "nothing more to do");
    }
}
