package io.virtfleet.controller.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.health.ServerHealth;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Failures kept per file: another file of the same directory written fine does not hide one that cannot be written
 * (the claims journal's large append failing while small files beside it succeed), the file's own next write clears
 * it, and the probe clears what failed before it wrote.
 */
class StorageHealthTest {
    private static final IOException FULL = new IOException("No space left on device");

    @TempDir
    Path data;

    private ServerHealth health;
    private StorageHealth storage;

    @BeforeEach
    void start() {
        health = new ServerHealth(List.of("virtfleet.v1.Fleet"));
        storage = new StorageHealth(data, health);
        storage.start();
    }

    @AfterEach
    void stop() {
        storage.close();
    }

    @Test
    void aFilesFailureStaysUntilThatFileIsWrittenAgain() throws Exception {
        Path journal = data.resolve("claims.journal");
        Path hosts = data.resolve("hosts.json");
        assertTrue(health.isServing());

        storage.failed(journal, FULL);
        assertFalse(health.isServing());
        storage.succeeded(hosts); // a small write beside it
        assertFalse(health.isServing(), "the journal still cannot be written");
        assertEquals(Set.of(journal), storage.failing());

        storage.failed(hosts, FULL);
        storage.succeeded(journal);
        assertFalse(health.isServing(), "hosts.json failed since");
        storage.succeeded(hosts);
        assertTrue(health.isServing());
        assertEquals(Set.of(), storage.failing());
    }

    @Test
    void theProbesOwnFileIsNotAFailureOfTheStateAndAProbeThatWritesClearsWhatFailedBefore() throws Exception {
        Path sub = Files.createDirectories(data.resolve("definitions-state"));
        storage.failed(sub.resolve(".probe.0000abcd.tmp"), FULL);
        assertTrue(health.isServing(), "the probe's outcome is the probe's to handle");

        Path journal = data.resolve("claims.journal");
        Path other = sub.resolve("other.json");
        storage.failed(journal, FULL);
        storage.failed(other, FULL);
        assertEquals(Set.of(journal, other), storage.failing());
        storage.probe(); // the directory is writable: both probes write
        assertEquals(Set.of(), storage.failing());
        assertTrue(health.isServing());
    }
}
