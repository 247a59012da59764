package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.FileSync;
import io.virtfleet.controller.testkit.SyncRecorder;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A withheld token's file and the token in memory come and go together, and a drop reaches the disk. */
class WithheldTokensTest {
    @TempDir
    Path dir;

    @Test
    void aDroppedTokenIsGoneFromTheDiskDurably() throws Exception {
        WithheldTokens withheld = WithheldTokens.open(dir.resolve("withheld"));
        withheld.keep("web1", "token-1");
        SyncRecorder syncs = new SyncRecorder();
        try (var scope = FileSync.during(syncs)) {
            withheld.drop("web1");
        }
        Path directory = dir.resolve("withheld").toAbsolutePath();
        assertFalse(Files.exists(directory.resolve("web1")));
        assertTrue(syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(directory)
                && !e.files().containsKey("web1")), "the directory synced without web1: " + syncs.events());
        assertEquals(Optional.empty(), withheld.get("web1"));
    }

    @Test
    void aDropWhoseDirectorySyncFailsIsReportedAndCanBeRetried() throws Exception {
        WithheldTokens withheld = WithheldTokens.open(dir.resolve("withheld"));
        withheld.keep("web1", "token-1");
        FileSync failing = new FileSync() {
            @Override
            public void force(FileChannel channel, Path file) throws IOException {
                FileSync.DISK.force(channel, file);
            }

            @Override
            public void forceDirectory(Path directory) throws IOException {
                throw new IOException("injected: cannot sync " + directory);
            }
        };
        try (var scope = FileSync.during(failing)) {
            assertThrows(IOException.class, () -> withheld.drop("web1"));
        }
        assertEquals(Optional.of("token-1"), withheld.get("web1"), "not forgotten before its removal is durable");
        // A retry syncs the directory again and then forgets the token.
        withheld.drop("web1");
        assertEquals(Optional.empty(), withheld.get("web1"));
        assertEquals(Optional.empty(), WithheldTokens.open(dir.resolve("withheld")).get("web1"));
    }
}
