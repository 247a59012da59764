package io.virtfleet.controller.backup;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.controller.DataDirectoryLock;
import io.virtfleet.controller.trust.JoinTokens;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Clock;
import java.time.format.DateTimeFormatter;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipFile;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.ObjectWalk;
import org.eclipse.jgit.revwalk.RevObject;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;

/**
 * Puts a verified backup archive in place as a controller's data directory, with nothing half done: the archive is
 * checked whole first, its files are written (each durably) into a new directory beside the target, the
 * definitions repository there is checked (every object reachable from its branch readable), and only then is the
 * new directory renamed to the target. A target that is not empty is refused unless {@code force}, and then moved
 * aside, not deleted.
 *
 * <p>Modes are the ones the archive records, with keys and credentials (anything under {@code pki/}, any
 * {@code *.key} or {@code *.pem}) owner-only whatever it says, and the data directory itself {@code 0700}. With an
 * owner, every file and directory is given to that user and its group (a restore run as root for the service user).
 */
public final class Restore {
    /** The controller's service user and group, as the package creates them. */
    public static final String SERVICE_USER = "virtfleet";
    /** The join tokens' file in the data directory (as the controller names it). */
    static final String JOIN_TOKENS = "join-tokens";

    private Restore() {}

    /**
     * What a restore did.
     *
     * @param joinTokensDropped how many join tokens of the backup, unexpired at the restore, were dropped
     */
    public record Result(BackupArchive.Manifest manifest, Path dataDir, Path movedAside, int joinTokensDropped) {}

    /** Renames one directory to another name (a seam for tests of a failing rename). */
    @FunctionalInterface
    interface Mover {
        void move(Path from, Path to) throws IOException;
    }

    private static final Mover ATOMIC = (from, to) -> Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);

    /** A data directory that is not empty, and no {@code force}: nothing was written. */
    public static final class TargetNotEmptyException extends Exception {
        TargetNotEmptyException(String message) {
            super(message);
        }
    }

    /**
     * @param owner the user (and its primary group) that gets every file; null: whoever runs the restore
     */
    public static Result restore(Path archive, Path dataDir, boolean force, UserPrincipal owner, GroupPrincipal group,
                                 Clock clock) throws BackupArchive.BadArchiveException, TargetNotEmptyException, IOException {
        Path target = dataDir.toAbsolutePath().normalize();
        BackupArchive.Manifest manifest;
        boolean occupied;
        DataDirectoryLock held = null;
        Path parent = target.getParent();
        try {
            manifest = BackupArchive.verify(archive);
            occupied = Files.exists(target) && (!Files.isDirectory(target) || !isEmpty(target));
            if (Files.isDirectory(target) && DataDirectoryLock.isHeld(target)) {
                throw runningThere(target);
            }
            if (occupied && !force) {
                throw new TargetNotEmptyException(target + " is not empty: a restore there would replace a controller's"
                        + " state. Stop that controller and give --force to move the directory aside (kept as "
                        + target.getFileName() + ".before-restore-TIME), or restore into an empty directory");
            }
            if (Files.exists(target) && !Files.isDirectory(target)) {
                throw new IOException(target + " is a file, not a directory");
            }
            StateFiles.createDirectories(parent);
            // Held until the swap is done: a controller started meanwhile (by hand, by a timer) fails to take the
            // directory instead of running on it while it is renamed aside. An empty directory is not locked (the
            // lock's file would make it non-empty); a controller that wrote into it meanwhile makes its removal fail.
            if (occupied) {
                held = DataDirectoryLock.tryTake(target).orElseThrow(() -> runningThere(target));
            }
        } catch (IOException e) {
            throw new IOException(e.getMessage() + "; " + target + " is unchanged", e);
        }
        Path staging = parent.resolve("." + target.getFileName() + ".restoring-" + Long.toHexString(System.nanoTime()));
        try {
            int dropped;
            try {
                unpack(archive, manifest, staging, owner, group);
                checkDefinitions(staging, manifest);
                // A token unexpired in the backup may have been used since: it must not enroll a host a second time.
                Path tokens = staging.resolve(JOIN_TOKENS);
                dropped = JoinTokens.dropUnexpired(tokens, clock.instant());
                if (dropped > 0) {
                    own(tokens, owner, group);
                }
                // The controller started on it holds until an operator has compared the records with what runs.
                RestoreHold.mark(staging, manifest.takenAt(), clock.instant());
                own(staging.resolve(RestoreHold.FILE), owner, group);
            } catch (IOException e) {
                throw new IOException(e.getMessage() + "; " + target + " is unchanged", e);
            }
            Path aside = null;
            if (Files.exists(target) && occupied) {
                aside = parent.resolve(target.getFileName() + ".before-restore-"
                        + DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(clock.instant()));
            }
            swap(staging, target, aside, ATOMIC);
            StateFiles.forceDirectory(parent);
            return new Result(manifest, target, aside, dropped);
        } finally {
            if (held != null) {
                held.close();
            }
            if (Files.exists(staging)) {
                deleteTree(staging);
            }
        }
    }

    private static TargetNotEmptyException runningThere(Path target) {
        return new TargetNotEmptyException("a controller is running with " + target + " (it holds "
                + target.resolve(DataDirectoryLock.FILE_NAME) + "): stop it first (systemctl stop"
                + " virtfleet-controller), then restore");
    }

    /**
     * Puts {@code staging} in place as {@code target}: the occupied target first moved to {@code aside} (when not
     * null), an empty one removed. Two renames, not one (Java has no exchange of two names): when the second fails,
     * the first is undone, and an exception says where everything is; it never claims the target unchanged when it
     * is not.
     */
    static void swap(Path staging, Path target, Path aside, Mover mover) throws IOException {
        boolean emptyRemoved = false;
        if (aside != null) {
            try {
                mover.move(target, aside);
            } catch (IOException e) {
                throw new IOException("cannot move " + target + " aside to " + aside + " (" + e.getMessage() + "); "
                        + target + " is unchanged", e);
            }
        } else if (Files.exists(target)) {
            try {
                Files.delete(target); // empty: the rename below needs its name
            } catch (IOException e) {
                throw new IOException("cannot remove the empty directory " + target + " (" + e.getMessage() + "); "
                        + target + " is unchanged", e);
            }
            emptyRemoved = true;
        }
        try {
            mover.move(staging, target);
        } catch (IOException e) {
            String failed = "cannot rename the restored directory " + staging + " to " + target + " (" + e.getMessage() + ")";
            if (aside != null) {
                try {
                    mover.move(aside, target);
                } catch (IOException back) {
                    throw new IOException(failed + ", nor move the previous data directory back from " + aside + " ("
                            + back.getMessage() + "): " + target + " does not exist now, the previous state is in "
                            + aside + "; rename it back to " + target + " by hand (or restore again)", e);
                }
                throw new IOException(failed + "; the previous data directory was moved back from " + aside + ": "
                        + target + " is unchanged", e);
            }
            if (emptyRemoved) {
                try {
                    Files.createDirectory(target, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                } catch (IOException again) {
                    throw new IOException(failed + "; the empty directory " + target + " that was there is gone and could"
                            + " not be made again (" + again.getMessage() + ")", e);
                }
                throw new IOException(failed + "; the empty directory " + target + " was made again (mode 0700, owned"
                        + " by whoever ran the restore)", e);
            }
            throw new IOException(failed + "; " + target + " is unchanged (it did not exist)", e);
        }
    }

    private static void unpack(Path archive, BackupArchive.Manifest manifest, Path staging, UserPrincipal owner,
                               GroupPrincipal group) throws BackupArchive.BadArchiveException, IOException {
        Files.createDirectory(staging, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        List<Path> directories = new ArrayList<>();
        directories.add(staging);
        try (ZipFile zip = BackupArchive.open(archive)) {
            for (BackupArchive.Entry e : manifest.entries()) {
                Path p = staging.resolve(e.path());
                if (!p.normalize().startsWith(staging)) {
                    throw new BackupArchive.BadArchiveException(archive + ": " + e.path() + " leads out of the data directory");
                }
                if (e.directory()) {
                    Files.createDirectories(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                    directories.add(p);
                    continue;
                }
                Files.createDirectories(p.getParent());
                try (FileChannel out = FileChannel.open(p, java.util.Set.of(StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
                    OutputStream stream = Channels.newOutputStream(out);
                    BackupArchive.extract(zip, archive, e, stream);
                    stream.flush();
                    StateFiles.force(out, p);
                }
                own(p, owner, group);
                Files.setPosixFilePermissions(p, BackupArchive.permissions(fileMode(e))); // after chown, which may clear bits
            }
        }
        // Deepest first, so each directory's entries are durable before its own name is synced in its parent.
        directories.sort(Comparator.comparingInt(Path::getNameCount).reversed());
        for (Path d : directories) {
            own(d, owner, group);
            int mode = d.equals(staging) ? 0700 : manifest.entries().stream()
                    .filter(e -> e.directory() && staging.resolve(e.path()).equals(d)).findFirst()
                    .map(e -> e.mode() | 0700).orElse(0700);
            Files.setPosixFilePermissions(d, BackupArchive.permissions(mode & ~0022));
            StateFiles.forceDirectory(d);
        }
    }

    /** The mode a restored file gets: the recorded one, never writable by others, and owner-only for secrets. */
    static int fileMode(BackupArchive.Entry e) {
        String name = e.path().substring(e.path().lastIndexOf('/') + 1);
        boolean secret = e.path().startsWith("pki/") || name.endsWith(".key") || name.endsWith(".pem");
        int mode = (e.mode() | 0600) & ~0022;
        return secret ? 0600 : mode;
    }

    private static void own(Path p, UserPrincipal owner, GroupPrincipal group) throws IOException {
        if (owner == null) {
            return;
        }
        PosixFileAttributeView view = Files.getFileAttributeView(p, PosixFileAttributeView.class,
                java.nio.file.LinkOption.NOFOLLOW_LINKS);
        view.setOwner(owner);
        if (group != null) {
            view.setGroup(group);
        }
    }

    /** Every object reachable from the restored repository's branch can be read, and the branch is the manifest's. */
    private static void checkDefinitions(Path staging, BackupArchive.Manifest manifest) throws BackupArchive.BadArchiveException, IOException {
        Path gitDir = staging.resolve("definitions").resolve(".git");
        if (!Files.isDirectory(gitDir)) {
            if (manifest.definitionsHead().isEmpty()) {
                return; // a controller that never started far enough to make its repository
            }
            throw new BackupArchive.BadArchiveException("the archive has no definitions repository, but its manifest names"
                    + " commit " + manifest.definitionsHead());
        }
        try (Repository repo = new FileRepositoryBuilder().setGitDir(gitDir.toFile()).setMustExist(true).build();
             ObjectWalk walk = new ObjectWalk(repo)) {
            ObjectId head = repo.resolve("HEAD");
            if (head == null || !head.getName().equals(manifest.definitionsHead())) {
                throw new BackupArchive.BadArchiveException("the restored definitions repository's branch is at "
                        + (head == null ? "nothing" : head.getName()) + ", the manifest says " + manifest.definitionsHead());
            }
            walk.markStart(walk.parseCommit(head));
            while (walk.next() != null) {
                // every commit parsed
            }
            for (RevObject o = walk.nextObject(); o != null; o = walk.nextObject()) {
                walk.getObjectReader().open(o).getSize(); // every tree and blob present and readable
            }
        } catch (org.eclipse.jgit.errors.MissingObjectException | org.eclipse.jgit.errors.CorruptObjectException e) {
            throw new BackupArchive.BadArchiveException("the definitions repository in the archive is incomplete: "
                    + e.getMessage(), e);
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
