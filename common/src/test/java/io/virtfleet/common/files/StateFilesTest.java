package io.virtfleet.common.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one state-file writer: content synced before the rename, the directory synced after it. */
class StateFilesTest {
    @TempDir
    Path dir;

    /** Syncs for real and notes, at each sync, what the target file holds and whether a temporary file is left. */
    private final class Watcher implements FileSync {
        final List<String> seen = new ArrayList<>();
        final Path target;

        Watcher(Path target) {
            this.target = target;
        }

        @Override
        public void force(FileChannel channel, Path file) throws IOException {
            DISK.force(channel, file);
            seen.add("file " + (file.equals(target) ? "target" : temporary(file) ? "temporary" : file)
                    + " target=" + held());
        }

        @Override
        public void forceDirectory(Path directory) throws IOException {
            DISK.forceDirectory(directory);
            seen.add("directory " + dir.relativize(directory) + " target=" + held() + " temporaries=" + temporaries());
        }

        private String held() throws IOException {
            return Files.exists(target) ? Files.readString(target) : "-";
        }

        private boolean temporary(Path file) {
            return file.getFileName().toString().matches("\\." + target.getFileName() + "\\..*\\.tmp");
        }

        private long temporaries() throws IOException {
            if (!Files.isDirectory(target.getParent())) {
                return 0;
            }
            try (Stream<Path> files = Files.list(target.getParent())) {
                return files.filter(this::temporary).count();
            }
        }
    }

    @Test
    void contentIsSyncedBeforeTheRenameAndTheDirectoryAfterIt() throws Exception {
        Path file = dir.resolve("state");
        StateFiles.write(file, "old");
        Watcher watcher = new Watcher(file);
        try (var scope = FileSync.during(watcher)) {
            StateFiles.write(file, "new");
        }
        assertEquals(List.of("file temporary target=old", "directory  target=new temporaries=0"), watcher.seen);
        assertEquals("new", Files.readString(file));
    }

    @Test
    void aCreatedFileNeverReplacesOneThatExistsAndIsSyncedLikeAWrite() throws Exception {
        Path file = dir.resolve("credentials.pem");
        Watcher watcher = new Watcher(file);
        try (var scope = FileSync.during(watcher)) {
            StateFiles.createPrivate(file, "first");
        }
        assertEquals(List.of("file temporary target=-", "directory  target=first temporaries=0"), watcher.seen);
        assertThrows(java.nio.file.FileAlreadyExistsException.class, () -> StateFiles.createPrivate(file, "second"));
        assertEquals("first", Files.readString(file));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary left");
        }
    }

    @Test
    void directoriesItCreatesAreSyncedInTheirParents() throws Exception {
        Path file = dir.resolve("a/b/state");
        Watcher watcher = new Watcher(file);
        try (var scope = FileSync.during(watcher)) {
            StateFiles.write(file, "x");
        }
        assertEquals(List.of("directory  target=- temporaries=0", "directory a target=- temporaries=0",
                "file temporary target=-", "directory a/b target=x temporaries=0"), watcher.seen);
    }

    @Test
    void aDeleteIsFollowedByASyncOfTheDirectoryWithoutTheFile() throws Exception {
        Path file = dir.resolve("state");
        StateFiles.write(file, "old");
        Watcher watcher = new Watcher(file);
        try (var scope = FileSync.during(watcher)) {
            assertTrue(StateFiles.delete(file));
            assertFalse(StateFiles.delete(file), "already gone");
        }
        // Also when already gone: the first delete's sync may have failed.
        assertEquals(List.of("directory  target=- temporaries=0", "directory  target=- temporaries=0"), watcher.seen);
    }

    @Test
    void privateFilesAndTheirNewDirectoriesAreOwnerOnlyFromTheStart() throws Exception {
        Path file = dir.resolve("keys/ca.key");
        List<String> modes = new ArrayList<>();
        FileSync checking = new FileSync() {
            @Override
            public void force(FileChannel channel, Path f) throws IOException {
                modes.add(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))); // before any rename
                DISK.force(channel, f);
            }

            @Override
            public void forceDirectory(Path directory) throws IOException {
                DISK.forceDirectory(directory);
            }
        };
        try (var scope = FileSync.during(checking)) {
            StateFiles.writePrivate(file, "secret");
        }
        assertEquals(List.of("rw-------"), modes);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file.getParent())));
    }

    @Test
    void aFailedSyncLeavesTheOldFileAndNoTemporary() throws Exception {
        Path file = dir.resolve("state");
        StateFiles.write(file, "old");
        FileSync failing = new FileSync() {
            @Override
            public void force(FileChannel channel, Path f) throws IOException {
                throw new IOException("disk gone");
            }

            @Override
            public void forceDirectory(Path directory) throws IOException {
                DISK.forceDirectory(directory);
            }
        };
        try (var scope = FileSync.during(failing)) {
            assertThrows(IOException.class, () -> StateFiles.write(file, "new"));
        }
        assertEquals("old", Files.readString(file));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void theSyncChosenForOneThreadIsNotAnothers() throws Exception {
        Watcher watcher = new Watcher(dir.resolve("mine"));
        try (var scope = FileSync.during(watcher)) {
            Thread other = new Thread(() -> {
                try {
                    StateFiles.write(dir.resolve("theirs"), "x");
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            other.start();
            other.join();
        }
        assertTrue(watcher.seen.isEmpty(), watcher.seen.toString());
        assertFalse(FileSync.current() == watcher);
    }
}
