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
        assertFalse(preparation.soon(), "nothing to prepare without Debian's files");

        Files.createDirectories(debian);
        Files.write(debian.resolve("linux"), new byte[] {1, 2, 3});
        Files.writeString(debian.resolve("initrd.gz"), "debian's initrd");
        Files.createDirectories(prepared.getParent());
        Files.writeString(prepared, "a file where the directory must go"); // writing fails, even as root
        assertTrue(preparation.soon());
        awaitIdle(preparation);
        assertFalse(files.available());
        now.addAndGet(InstallerPreparation.RETRY_AFTER_NANOS - 1);
        assertFalse(preparation.soon(), "not again within a minute of the failure");

        Files.delete(prepared);
        now.addAndGet(2);
        assertTrue(preparation.soon(), "again a minute later");
        awaitIdle(preparation);
        assertTrue(files.available(), "prepared: the host reports its installer files from now on");
        assertFalse(preparation.soon(), "nothing more to do");
    }

    private static void awaitIdle(InstallerPreparation preparation) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (preparation.running()) {
            assertTrue(System.nanoTime() < deadline, "preparation still running after 30 s");
            Thread.sleep(10);
        }
    }
}
