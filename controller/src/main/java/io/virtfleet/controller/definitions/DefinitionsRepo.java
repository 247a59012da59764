package io.virtfleet.controller.definitions;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.api.errors.JGitInternalException;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.dircache.DirCacheEditor;
import org.eclipse.jgit.dircache.DirCacheEntry;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.StoredConfig;
import org.eclipse.jgit.revwalk.RevCommit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fleet's desired state as a git repository, the runbook's {@code /srv/common} made authoritative: each
 * VM's record and its libvirt domain XML at {@code etc/libvirt/qemu/<vm>.xml}, one commit per change with the
 * operator as author. {@code git log} is the audit trail; a clone is the backup; agents pull it to replicate
 * definitions.
 *
 * <p>A commit is the point of no return: files are written, then committed; a crash in between leaves a dirty
 * working tree and maybe git's lock files, which {@link #open} removes and resets to the last commit. Thread-safe
 * (one writer at a time).
 */
public final class DefinitionsRepo implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DefinitionsRepo.class);
    private static final PersonIdent CONTROLLER = new PersonIdent("virtfleet-controller", "controller@virtfleet.internal");

    private final Path root;
    private final Git git;
    /** Set when a failed commit could not be undone: every later commit is refused with it. */
    private IOException unusable;
    /** The branch's commit as of the last commit made here: read on every agent heartbeat, without the lock. */
    private volatile String lastHead;

    private DefinitionsRepo(Path root, Git git) throws IOException {
        this.root = root;
        this.git = git;
        this.lastHead = head();
    }

    /** Opens the repository at {@code dir}, creating it on first start; drops uncommitted changes. */
    public static DefinitionsRepo open(Path dir) throws IOException {
        try {
            Git git;
            if (Files.isDirectory(dir.resolve(".git"))) {
                removeStaleLocks(dir.resolve(".git"));
                git = Git.open(dir.toFile());
                syncOnDisk(git);
                git.reset().setMode(org.eclipse.jgit.api.ResetCommand.ResetType.HARD).call();
                git.clean().setCleanDirectories(true).call();
                // A commit that crashed or failed may have made object directories never synced in objects/: every
                // directory there is taken as durable by the commits to come (see syncCommit).
                StateFiles.forceDirectory(git.getRepository().getDirectory().toPath().resolve("objects"));
            } else {
                StateFiles.createDirectories(dir);
                git = Git.init().setDirectory(dir.toFile()).setInitialBranch("main").call();
                syncOnDisk(git);
                RevCommit first = git.commit().setAllowEmpty(true).setAuthor(CONTROLLER).setCommitter(CONTROLLER)
                        .setMessage("virtfleet definitions repository").setSign(false).call();
                // Everything under .git is new: the directories git init made are synced in their parents too.
                syncCommit(git, first, Set.of());
                Path gitDir = git.getRepository().getDirectory().toPath();
                // git init wrote HEAD before the repository asked for synced refs: an empty HEAD after a power
                // loss would keep the controller from starting.
                StateFiles.forceFile(gitDir.resolve("HEAD"));
                StateFiles.forceDirectory(gitDir.resolve("refs"));
                StateFiles.forceDirectory(gitDir);
                StateFiles.forceDirectory(dir);
            }
            return new DefinitionsRepo(dir, git);
        } catch (GitAPIException | JGitInternalException e) {
            throw new IOException("cannot open the definitions repository in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Makes JGit fsync every object and ref file it writes (core.fsyncObjectFiles, core.fsyncRefFiles: the two it
     * honours; JGit has no core.fsync). Set on every open, in the open repository's configuration before anything
     * is written, so that a repository made by an older controller, or whose config was edited by hand, is no
     * exception; saved too, for git tools that look.
     */
    private static void syncOnDisk(Git git) throws IOException {
        StoredConfig config = git.getRepository().getConfig();
        boolean set = config.getBoolean("core", null, "fsyncObjectFiles", false)
                && config.getBoolean("core", null, "fsyncRefFiles", false);
        config.setBoolean("core", null, "fsyncObjectFiles", true);
        config.setBoolean("core", null, "fsyncRefFiles", true);
        if (!set) {
            config.save(); // JGit's own lock-and-rename, without fsync: forced here
            Path file = git.getRepository().getDirectory().toPath().resolve("config");
            StateFiles.forceFile(file);
            StateFiles.forceDirectory(file.getParent());
        }
    }

    /**
     * Deletes the lock files a controller killed in the middle of a commit leaves behind (the index's, HEAD's, the
     * branch's), which would otherwise stop every later reset and commit ("Cannot lock HEAD"). Only the controller
     * writes this repository and it is not running yet, so a lock here is a dead process's; what it was writing
     * is dropped with it (the reset that follows goes back to the last commit).
     */
    private static void removeStaleLocks(Path gitDir) throws IOException {
        List<Path> locks;
        try (Stream<Path> files = Files.walk(gitDir)) {
            locks = files.filter(p -> p.getFileName().toString().endsWith(".lock") && Files.isRegularFile(p)
                    && !p.startsWith(gitDir.resolve("objects"))).toList();
        }
        for (Path lock : locks) {
            Files.deleteIfExists(lock);
            log.warn("removed {}, left by a controller stopped in the middle of a commit", lock);
        }
    }

    public Path root() {
        return root;
    }

    /** The JGit handle, for tests of its settings. */
    Git git() {
        return git;
    }

    /**
     * Writes and deletes files (paths relative to the repository, '/'-separated) and commits them as one
     * change. Returns the commit id, or the current head when nothing changed.
     *
     * @param operator who asked for the change; empty or null for the controller itself
     */
    public synchronized String commit(String message, String operator, Map<String, byte[]> writes, Set<String> deletes)
            throws IOException {
        if (unusable != null) {
            throw new IOException(unusable.getMessage(), unusable);
        }
        // Through the write gate: a backup copies the repository before this commit or after it, never its objects
        // without its branch or a working tree half written.
        try (io.virtfleet.common.files.WriteGate.Pass pass = io.virtfleet.common.files.WriteGate.enter()) {
            return commitInside(message, operator, writes, deletes);
        }
    }

    private String commitInside(String message, String operator, Map<String, byte[]> writes, Set<String> deletes)
            throws IOException {
        try {
            Set<String> objectDirsBefore = objectDirectories(git); // before the first blob is written
            if (!stage(writes, deletes)) {
                return head();
            }
            PersonIdent author = operator == null || operator.isEmpty() ? CONTROLLER
                    : new PersonIdent(operator, operator + "@operators.virtfleet.internal");
            RevCommit c = git.commit().setAuthor(author).setCommitter(CONTROLLER).setMessage(message).setSign(false).call();
            // The branch names the commit from here on: agents may pull it and callers must keep what it holds.
            lastHead = c.getName();
            try {
                syncCommit(git, c, objectDirsBefore);
            } catch (IOException | RuntimeException e) {
                refuseAfterUnsyncedCommit(c, e);
            }
            return c.getName();
        } catch (GitAPIException | JGitInternalException e) {
            resetAfter(e);
            throw new IOException("cannot commit to the definitions repository: " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            resetAfter(e);
            throw e;
        }
    }

    /**
     * Writes the files and puts exactly them in the index, edited in place: {@code git add} and {@code git status}
     * each walked the whole directory, which made a commit's cost grow with the number of VMs (10x from 10 to
     * 10,000 VMs) and a commit of many files quadratic. Returns whether the index now differs from the last
     * commit's tree.
     */
    private boolean stage(Map<String, byte[]> writes, Set<String> deletes) throws IOException {
        for (String path : writes.keySet()) {
            resolve(path); // every path checked before anything is written
        }
        for (String path : deletes) {
            resolve(path);
            if (writes.containsKey(path)) {
                // One index edit per path: both at once would leave the file committed but gone from the disk.
                throw new IllegalArgumentException("a path both written and deleted in one commit: " + path);
            }
        }
        Repository repository = git.getRepository();
        DirCache index = repository.lockDirCache();
        try (ObjectInserter inserter = repository.newObjectInserter()) {
            DirCacheEditor editor = index.editor();
            for (Map.Entry<String, byte[]> w : writes.entrySet()) {
                Path file = resolve(w.getKey());
                Files.createDirectories(file.getParent());
                // Not through StateFiles: the working tree is only git's input, reset to the last commit on open;
                // what must survive a crash is the commit, which JGit fsyncs (see syncOnDisk and syncCommit).
                Files.write(file, w.getValue());
                ObjectId blob = inserter.insert(Constants.OBJ_BLOB, w.getValue());
                // The file's size and time as git add records them, so the working tree reads as clean.
                BasicFileAttributes written = Files.readAttributes(file, BasicFileAttributes.class);
                editor.add(new DirCacheEditor.PathEdit(w.getKey()) {
                    @Override
                    public void apply(DirCacheEntry entry) {
                        entry.setFileMode(FileMode.REGULAR_FILE);
                        entry.setObjectId(blob);
                        entry.setLength(written.size());
                        entry.setLastModified(written.lastModifiedTime().toInstant());
                    }
                });
            }
            for (String d : deletes) {
                if (Files.deleteIfExists(resolve(d))) {
                    editor.add(new DirCacheEditor.DeletePath(d));
                }
            }
            editor.finish();
            ObjectId tree = index.writeTree(inserter);
            inserter.flush();
            ObjectId head = repository.resolve(Constants.HEAD + "^{tree}");
            if (tree.equals(head)) {
                return false; // the index is left as it was on disk: the same content
            }
            index.write();
            if (!index.commit()) {
                throw new IOException("cannot write the index of the definitions repository " + root);
            }
            return true;
        } finally {
            index.unlock();
        }
    }

    /**
     * Leaves the working tree and the index as the last commit says: a half-made change must not be picked up by
     * the next commit. If even that fails, every later commit is refused: it would carry this one's leftovers.
     */
    private void resetAfter(Exception failed) throws IOException {
        try {
            git.reset().setMode(org.eclipse.jgit.api.ResetCommand.ResetType.HARD).call();
            // Files written but not yet in the index are not the reset's: removed too (the whole tree is walked,
            // only after a failure).
            git.clean().setCleanDirectories(true).call();
            // The failed commit may have made object directories: later commits take every directory there as
            // durable in objects/ (see syncCommit), so it is made so now.
            StateFiles.forceDirectory(git.getRepository().getDirectory().toPath().resolve("objects"));
        } catch (GitAPIException | JGitInternalException | IOException e) {
            unusable = new IOException("the definitions repository " + root + " takes no more changes: a commit failed ("
                    + failed.getMessage() + ") and its working tree could not be reset to the last commit ("
                    + e.getMessage() + "); fix the cause and restart the controller, which resets it on start", failed);
            unusable.addSuppressed(e);
            log.error("{}", unusable.getMessage());
            throw unusable;
        }
    }

    /**
     * A commit that is on the branch but whose directories could not be synced is made, not failed: the branch
     * serves it and the caller keeps the state it records (undoing that would contradict the branch). Whether it
     * survives a power loss is unknown, so no later commit may build on it until a restart has checked the disk.
     */
    private void refuseAfterUnsyncedCommit(RevCommit c, Exception e) {
        unusable = new IOException("the definitions repository " + root + " takes no more changes: commit " + c.getName()
                + " is on the branch but could not be made durable (" + e.getMessage()
                + "); fix the cause and restart the controller", e);
        log.error("{}", unusable.getMessage());
    }

    /**
     * Makes a new commit's file names durable: JGit fsyncs each object and ref file before renaming it into
     * place, but never the directories it renames them into, so a power loss could still bring back the branch's
     * old commit, or a commit whose objects are missing. Syncs the branch's ref directory and each object
     * directory that received one of the commit's new objects, and objects/ itself when JGit had to create one of
     * those directories (not in {@code objectDirsBefore}).
     */
    private static void syncCommit(Git git, RevCommit c, Set<String> objectDirsBefore) throws IOException {
        Repository repository = git.getRepository();
        Path gitDir = repository.getDirectory().toPath();
        Set<String> objectDirs = new java.util.TreeSet<>();
        objectDirs.add(c.getName().substring(0, 2));
        objectDirs.add(c.getTree().getName().substring(0, 2));
        try (org.eclipse.jgit.treewalk.TreeWalk walk = new org.eclipse.jgit.treewalk.TreeWalk(repository)) {
            if (c.getParentCount() == 0) {
                walk.addTree(new org.eclipse.jgit.treewalk.EmptyTreeIterator());
            } else {
                try (org.eclipse.jgit.revwalk.RevWalk commits = new org.eclipse.jgit.revwalk.RevWalk(repository)) {
                    walk.addTree(commits.parseCommit(c.getParent(0)).getTree());
                }
            }
            walk.addTree(c.getTree());
            walk.setRecursive(true);
            walk.setPostOrderTraversal(true); // trees too, after their entries
            walk.setFilter(org.eclipse.jgit.treewalk.filter.TreeFilter.ANY_DIFF);
            while (walk.next()) {
                if (!walk.getObjectId(1).equals(org.eclipse.jgit.lib.ObjectId.zeroId())) {
                    objectDirs.add(walk.getObjectId(1).getName().substring(0, 2));
                }
            }
        }
        boolean newObjectDir = false;
        for (String d : objectDirs) {
            Path objects = gitDir.resolve("objects").resolve(d);
            if (Files.isDirectory(objects)) {
                StateFiles.forceDirectory(objects);
                newObjectDir |= !objectDirsBefore.contains(d);
            }
        }
        if (newObjectDir) {
            StateFiles.forceDirectory(gitDir.resolve("objects"));
        }
        String branch = repository.getFullBranch(); // refs/heads/main
        StateFiles.forceDirectory(gitDir.resolve(branch).getParent());
    }

    /** The names of the loose object directories (objects/xx) there are now. */
    private static Set<String> objectDirectories(Git git) throws IOException {
        Path objects = git.getRepository().getDirectory().toPath().resolve("objects");
        try (Stream<Path> dirs = Files.list(objects)) {
            return dirs.map(d -> d.getFileName().toString()).filter(n -> n.length() == 2)
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    public synchronized Optional<byte[]> read(String path) throws IOException {
        Path file = resolve(path);
        return Files.isRegularFile(file) ? Optional.of(Files.readAllBytes(file)) : Optional.empty();
    }

    /** Names of the regular files directly in a directory of the repository, sorted. */
    public synchronized List<String> list(String dir) throws IOException {
        Path d = resolve(dir);
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(d)) {
            return files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /**
     * One commit that changed some of the files asked about.
     *
     * @param paths which of those files it changed (added, modified or deleted)
     */
    public record Change(long atUnixMs, String author, String message, String commit, List<String> paths) {
        public Change {
            paths = List.copyOf(paths);
        }
    }

    /** Every commit that changed any of {@code paths}, oldest first (deleted files included). */
    public synchronized List<Change> history(String... paths) throws IOException {
        try {
            var log = git.log();
            for (String p : paths) {
                log.addPath(p);
            }
            List<Change> out = new ArrayList<>();
            Repository repository = git.getRepository();
            for (RevCommit c : log.call()) {
                String author = c.getAuthorIdent().getName();
                out.add(0, new Change(c.getCommitTime() * 1000L, author.equals(CONTROLLER.getName()) ? "" : author,
                        c.getFullMessage().strip(), c.getName(), changedPaths(repository, c, paths)));
            }
            return out;
        } catch (GitAPIException e) {
            throw new IOException("cannot read the history of " + String.join(", ", paths) + ": " + e.getMessage(), e);
        }
    }

    /** Which of {@code paths} differ between the commit and its first parent. */
    private static List<String> changedPaths(Repository repository, RevCommit c, String... paths) throws IOException {
        try (org.eclipse.jgit.revwalk.RevWalk commits = new org.eclipse.jgit.revwalk.RevWalk(repository);
             org.eclipse.jgit.treewalk.TreeWalk walk = new org.eclipse.jgit.treewalk.TreeWalk(repository)) {
            RevCommit commit = commits.parseCommit(c);
            if (commit.getParentCount() == 0) {
                walk.addTree(new org.eclipse.jgit.treewalk.EmptyTreeIterator());
            } else {
                walk.addTree(commits.parseCommit(commit.getParent(0)).getTree());
            }
            walk.addTree(commit.getTree());
            walk.setRecursive(true);
            walk.setFilter(org.eclipse.jgit.treewalk.filter.AndTreeFilter.create(
                    org.eclipse.jgit.treewalk.filter.PathFilterGroup.createFromStrings(paths),
                    org.eclipse.jgit.treewalk.filter.TreeFilter.ANY_DIFF));
            List<String> changed = new ArrayList<>();
            while (walk.next()) {
                changed.add(walk.getPathString());
            }
            return changed;
        }
    }

    /** The current commit, without waiting for a commit in progress (which is not visible until it is made). */
    public String headNow() {
        return lastHead;
    }

    /**
     * When {@code commit} was made, or empty when this repository has no such commit. Takes no lock: JGit reads
     * objects safely alongside a commit in progress (metrics read it, off the event loops).
     */
    public java.util.OptionalLong commitTimeUnixMs(String commit) {
        try (org.eclipse.jgit.revwalk.RevWalk walk = new org.eclipse.jgit.revwalk.RevWalk(git.getRepository())) {
            return java.util.OptionalLong.of(walk.parseCommit(org.eclipse.jgit.lib.ObjectId.fromString(commit))
                    .getCommitTime() * 1000L);
        } catch (IOException | IllegalArgumentException e) { // no such commit, or not a commit id
            return java.util.OptionalLong.empty();
        }
    }

    public synchronized String head() throws IOException {
        return git.getRepository().resolve("HEAD").getName();
    }

    /** The path inside the repository; refuses anything that would leave it. */
    private Path resolve(String relative) {
        // Repository paths are plain '/'-separated names: no '.', '..' or empty segment may even normalise away.
        for (String segment : relative.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException("not a plain repository path: " + relative);
            }
        }
        Path p = root.resolve(relative).normalize();
        if (!p.startsWith(root.normalize()) || p.equals(root.normalize()) || relative.contains("\\")
                || p.startsWith(root.resolve(".git").normalize())) {
            throw new IllegalArgumentException("path outside the definitions repository: " + relative);
        }
        return p;
    }

    @Override
    public void close() {
        git.close();
    }

}
