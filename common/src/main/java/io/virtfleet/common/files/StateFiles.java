package io.virtfleet.common.files;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HexFormat;

/**
 * The one way state files are written, by the controller and the agent alike: after a crash or a power loss a
 * reader finds the previous content or the new one, never a mix, an empty file or a file that is back to an older
 * version. The content goes to a new temporary file in the same directory, reaches the disk (fsync), is renamed
 * over the old file, and the rename reaches the disk too (fsync of the directory). Directories it has to create
 * are made durable the same way. Secrets ({@link #writePrivate}) are owner-only before their first byte is written.
 * Every write and delete passes the process's {@link WriteGate}, so a backup sees it whole or not at all, and its
 * outcome goes to the {@link WriteOutcomes} watching its directory (a daemon's health follows them).
 */
public final class StateFiles {
    private static final FileAttribute<?> OWNER_ONLY_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    private static final FileAttribute<?> OWNER_ONLY_DIRECTORY =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> READABLE_FILE =
            PosixFilePermissions.fromString("rw-r--r--");
    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> GROUP_READABLE_FILE =
            PosixFilePermissions.fromString("rw-r-----");
    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> READABLE_DIRECTORY =
            PosixFilePermissions.fromString("rwxr-xr-x");
    private static final SecureRandom RANDOM = new SecureRandom();

    private StateFiles() {}

    /** Replaces {@code file} with {@code content} (UTF-8); a new file gets the process's default permissions. */
    public static void write(Path file, String content) throws IOException {
        write(file, content.getBytes(StandardCharsets.UTF_8));
    }

    public static void write(Path file, byte[] content) throws IOException {
        replace(file, content, false);
    }

    /** Content produced by streaming, for files too big to hold in memory. */
    @FunctionalInterface
    public interface Content {
        void writeTo(java.io.OutputStream out) throws IOException;
    }

    /** Replaces {@code file} with what {@code content} writes, as {@link #write(Path, byte[])} does. */
    public static void write(Path file, Content content) throws IOException {
        put(file, content, false, true);
    }

    /**
     * Replaces {@code file} with {@code content}, readable by everyone ({@code rw-r--r--}) whatever the process's
     * umask, from the moment it has its name: files another service reads as its own user (a TFTP server, QEMU).
     * Directories it makes for it are {@code rwxr-xr-x}, so that the reader can reach it.
     */
    public static void writeReadable(Path file, byte[] content) throws IOException {
        put(file, out -> out.write(content), false, true, READABLE_FILE);
    }

    /** As {@link #writeReadable(Path, byte[])}, with content produced by streaming. */
    public static void writeReadable(Path file, Content content) throws IOException {
        put(file, content, false, true, READABLE_FILE);
    }

    /**
     * Replaces {@code file} with {@code content}, {@code rw-r-----} and of group {@code group} from the moment it has its
     * name (owner-only before its first byte is written): secrets another service reads through its group, as QEMU,
     * running as its own user, reads its TLS keys. Directories it makes for it are {@code rwxr-xr-x}.
     */
    public static void writeGroupReadable(Path file, byte[] content, java.nio.file.attribute.GroupPrincipal group)
            throws IOException {
        put(file, out -> out.write(content), true, true, GROUP_READABLE_FILE, group);
    }

    /**
     * Replaces {@code file} with {@code content} (UTF-8), readable and writable by its owner only (keys,
     * credentials, token hashes); a directory it creates is owner-only too.
     */
    public static void writePrivate(Path file, String content) throws IOException {
        replace(file, content.getBytes(StandardCharsets.UTF_8), true);
    }

    /**
     * As {@link #createPrivate(Path, String)} (owner-only, never replacing a file), with content produced by streaming:
     * an archive of secrets. If {@code content} throws, nothing is left.
     */
    public static void createPrivate(Path file, Content content) throws IOException {
        put(file, content, true, false);
    }

    /** Creates the directory owner-only if it is missing (durably); an existing directory keeps its permissions. */
    public static void createPrivateDirectory(Path dir) throws IOException {
        try (WriteGate.Pass pass = WriteGate.enter()) {
            createDirectories(dir.toAbsolutePath(), true, false);
        }
    }

    /** Creates the directory and its missing parents, each new entry made durable in its parent. */
    public static void createDirectories(Path dir) throws IOException {
        try (WriteGate.Pass pass = WriteGate.enter()) {
            createDirectories(dir.toAbsolutePath(), false, false);
        }
    }

    /**
     * Deletes {@code file} if it is there and makes its absence durable (fsync of its directory, also when the file
     * was already gone: an earlier delete may not have reached the disk): a power loss must not bring it back.
     *
     * @return whether the file was there
     */
    public static boolean delete(Path file) throws IOException {
        try (WriteGate.Pass pass = WriteGate.enter()) {
            boolean existed = Files.deleteIfExists(file);
            Path dir = file.toAbsolutePath().getParent();
            if (Files.isDirectory(dir)) {
                FileSync.current().forceDirectory(dir);
            }
            WriteOutcomes.succeeded(file);
            return existed;
        } catch (IOException e) {
            WriteOutcomes.failed(file, e);
            throw e;
        }
    }

    /** Forces what was appended to an open file to the disk (journals that grow by appends). */
    public static void force(FileChannel channel, Path file) throws IOException {
        try {
            FileSync.current().force(channel, file);
        } catch (IOException e) {
            WriteOutcomes.failed(file, e);
            throw e;
        }
        WriteOutcomes.succeeded(file);
    }

    /**
     * Checks that a file can be written in {@code dir} now: creates a temporary file there (named as this class's
     * temporaries are, which readers skip), forces it to the disk, and deletes it. How a daemon that could not write
     * learns, without waiting for its next real write, that it can again.
     *
     * @throws IOException when it cannot (reported to the watchers as a failure, as a success otherwise)
     */
    public static void probe(Path dir) throws IOException {
        Path tmp = dir.resolve(".probe." + HexFormat.of().toHexDigits(RANDOM.nextInt()) + ".tmp");
        try (WriteGate.Pass pass = WriteGate.enter()) {
            FileSync sync = FileSync.current();
            try {
                try (FileChannel out = FileChannel.open(tmp, java.util.Set.of(StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), OWNER_ONLY_FILE)) {
                    out.write(java.nio.ByteBuffer.wrap(new byte[] {'\n'}));
                    sync.force(out, tmp);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            sync.forceDirectory(dir);
        } catch (IOException e) {
            WriteOutcomes.failed(tmp, e);
            throw e;
        }
        WriteOutcomes.succeeded(tmp);
    }

    /** Forces an existing file written by other code (a library) to the disk, content and length. */
    public static void forceFile(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            FileSync.current().force(channel, file);
        }
    }

    /** Forces a directory's entries to the disk, e.g. after a file in it was deleted or renamed by other code. */
    public static void forceDirectory(Path dir) throws IOException {
        FileSync.current().forceDirectory(dir);
    }

    /**
     * As {@link #writePrivate}, but never replaces a file: the new one is put in place with a hard link, which the
     * kernel refuses if {@code file} exists by then ({@link FileAlreadyExistsException}), even if it appeared after
     * the caller looked.
     */
    public static void createPrivate(Path file, String content) throws IOException {
        put(file, content.getBytes(StandardCharsets.UTF_8), true, false);
    }

    private static void replace(Path file, byte[] content, boolean ownerOnly) throws IOException {
        put(file, content, ownerOnly, true);
    }

    private static void put(Path file, byte[] content, boolean ownerOnly, boolean replaceExisting) throws IOException {
        put(file, out -> out.write(content), ownerOnly, replaceExisting);
    }

    private static void put(Path file, Content content, boolean ownerOnly, boolean replaceExisting) throws IOException {
        put(file, content, ownerOnly, replaceExisting, null);
    }

    private static void put(Path file, Content content, boolean ownerOnly, boolean replaceExisting,
                            java.util.Set<java.nio.file.attribute.PosixFilePermission> mode) throws IOException {
        put(file, content, ownerOnly, replaceExisting, mode, null);
    }

    /**
     * @param mode  the file's permissions, set before it gets its name (null: the umask's)
     * @param group the file's group, set before it gets its name (null: the process's)
     */
    private static void put(Path file, Content content, boolean ownerOnly, boolean replaceExisting,
                            java.util.Set<java.nio.file.attribute.PosixFilePermission> mode,
                            java.nio.file.attribute.GroupPrincipal group) throws IOException {
        // Through the write gate: a backup copies either the old file or the new one, never a temporary.
        try (WriteGate.Pass pass = WriteGate.enter()) {
            putInside(file, content, ownerOnly, replaceExisting, mode, group);
        } catch (FileAlreadyExistsException e) {
            if (replaceExisting || !file.toString().equals(e.getFile())) {
                WriteOutcomes.failed(file, e);
            } // else: the file is there and was not to be replaced, a refusal and no failure of the storage
            throw e;
        } catch (IOException e) {
            WriteOutcomes.failed(file, e);
            throw e;
        }
        WriteOutcomes.succeeded(file);
    }

    private static void putInside(Path file, Content content, boolean ownerOnly, boolean replaceExisting,
                                  java.util.Set<java.nio.file.attribute.PosixFilePermission> mode,
                                  java.nio.file.attribute.GroupPrincipal group) throws IOException {
        FileSync sync = FileSync.current();
        Path dir = file.toAbsolutePath().getParent();
        createDirectories(dir, ownerOnly && group == null, mode == READABLE_FILE || group != null);
        Path tmp = dir.resolve("." + file.getFileName() + "." + HexFormat.of().toHexDigits(RANDOM.nextInt()) + ".tmp");
        try {
            try (FileChannel out = ownerOnly
                    ? FileChannel.open(tmp, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                            OWNER_ONLY_FILE)
                    : FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                java.io.OutputStream stream = java.nio.channels.Channels.newOutputStream(out); // closed with out
                content.writeTo(stream);
                stream.flush();
                // Before the rename: otherwise a power loss can leave the new name on an empty or partial file.
                sync.force(out, tmp);
            }
            if (group != null) {
                Files.getFileAttributeView(tmp, java.nio.file.attribute.PosixFileAttributeView.class).setGroup(group);
            }
            if (mode != null) {
                Files.setPosixFilePermissions(tmp, mode); // after the group: a chown may clear mode bits
            }
            if (replaceExisting) {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.createLink(file, tmp);
                Files.delete(tmp); // before the directory's sync, so that a power loss brings no temporary back
            }
            // The rename lives in the directory: without this a power loss may bring back the old file.
            sync.forceDirectory(dir);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** @param readable a directory it makes is rwxr-xr-x whatever the umask (for {@link #writeReadable}'s files) */
    private static void createDirectories(Path dir, boolean ownerOnly, boolean readable) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Deque<Path> missing = new ArrayDeque<>();
        for (Path d = dir; d != null && !Files.isDirectory(d); d = d.getParent()) {
            missing.push(d);
        }
        FileSync sync = FileSync.current();
        for (Path d : missing) {
            try {
                if (ownerOnly) {
                    Files.createDirectory(d, OWNER_ONLY_DIRECTORY);
                } else {
                    Files.createDirectory(d);
                    if (readable) {
                        Files.setPosixFilePermissions(d, READABLE_DIRECTORY);
                    }
                }
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(d)) {
                    throw e;
                }
            }
            sync.forceDirectory(d.getParent());
        }
    }
}
