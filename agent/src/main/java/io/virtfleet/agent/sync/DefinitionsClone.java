package io.virtfleet.agent.sync;

import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.ResetCommand.ResetType;
import org.eclipse.jgit.api.Status;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.api.errors.JGitInternalException;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.RefUpdate;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.StoredConfig;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.transport.RefSpec;
import org.eclipse.jgit.transport.TagOpt;
import org.eclipse.jgit.transport.Transport;
import org.eclipse.jgit.transport.TransportHttp;
import org.eclipse.jgit.treewalk.EmptyTreeIterator;
import org.eclipse.jgit.treewalk.TreeWalk;
import org.eclipse.jgit.treewalk.filter.TreeFilter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This host's copy of the controller's definitions repository (the runbook's {@code /srv/common}), kept equal
 * to the controller's {@code main} by {@link #pull()}: a real git fetch over HTTPS from the controller's git
 * server, with this agent's certificate, trusting only the fleet CA and only a server that proves to be the
 * controller; then a hard reset. The clone belongs to virtfleet: commits or edits made in it by hand are
 * replaced by the controller's state (and reported, so the define step puts them right in libvirt too).
 *
 * <p>An operator may point hosts at another copy of the repository instead ({@link #ofRemote}: a mirror over
 * {@code https://}, trusted as the JVM trusts web servers, or a {@code file://} path); who may read it is then
 * that remote's business, virtfleet sends no credentials to it.
 *
 * <p>Objects are checked as they arrive (no {@code ..} or {@code .git} path in a tree) and symbolic links are
 * checked out as plain files, so the repository cannot make the clone write or point outside itself. One pull
 * at a time.
 */
public final class DefinitionsClone {
    private static final Logger log = LoggerFactory.getLogger(DefinitionsClone.class);

    /** Where the runbook kept the definitions on every hypervisor. */
    public static final Path DEFAULT_DIRECTORY = Path.of("/srv/common");
    /** The repository's path on the controller's git server (the controller's {@code GitHttpServer}). */
    public static final String REPOSITORY_PATH = "/definitions.git";
    private static final String REMOTE = "origin";
    /** Branch and remote under which a runbook clone found in the directory keeps its history. */
    public static final String RUNBOOK = "runbook";
    private static final String BRANCH = Constants.R_HEADS + "main";
    private static final String TRACKING = Constants.R_REMOTES + REMOTE + "/main";

    /** libvirt's own directory of persistent QEMU domain definitions. */
    public static final Path LIBVIRT_CONFIG = Path.of("/etc/libvirt/qemu");

    private final Path directory;
    private final String url;
    private Path libvirtConfig = LIBVIRT_CONFIG;
    /** The fleet's mutual TLS for the controller's git server; null for a remote of the operator's. */
    private final FleetHttpConnections connections;
    private final int timeoutSeconds;

    /**
     * @param directory  where the clone lives: an absolute path, created on the first pull
     * @param controller the controller's git server (host and git port, e.g. controller.example:7443)
     * @param tls        this agent's credentials
     * @param timeout    bound on connecting and on each read from the controller
     */
    public DefinitionsClone(Path directory, Endpoint controller, TlsCredentials tls, Duration timeout) {
        this(directory, urlOf(controller), new FleetHttpConnections(tls.httpsClient(FleetIdentity.controller())), timeout);
    }

    private DefinitionsClone(Path directory, String url, FleetHttpConnections connections, Duration timeout) {
        if (!directory.isAbsolute() || !directory.normalize().equals(directory)) {
            throw new InvalidInputException("definitions directory", directory.toString(),
                    "an absolute path without '.' or '..' parts, e.g. " + DEFAULT_DIRECTORY);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new InvalidInputException("definitions pull timeout", timeout.toString(), "a positive duration");
        }
        this.directory = directory;
        this.url = url;
        this.connections = connections;
        this.timeoutSeconds = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toSeconds()));
    }

    /**
     * A clone of another copy of the definitions than the controller's ({@code definitions-remote}): see
     * {@link #checkRemote} for what is accepted.
     */
    public static DefinitionsClone ofRemote(Path directory, String remote, Duration timeout) {
        return new DefinitionsClone(directory, checkRemote("definitions-remote", remote), null, timeout);
    }

    /**
     * Checks a remote of the operator's: {@code https://host[:port]/path} (the server trusted as the JVM trusts web
     * servers) or {@code file:///absolute/path}. No credentials in it: the URL is logged and shown in reports, and
     * who may read the remote is the remote's business.
     *
     * @return the URL as given
     */
    public static String checkRemote(String field, String remote) {
        String accepted = "an https://host/path or file:///absolute/path URL of a git repository, without credentials";
        URI uri;
        try {
            uri = new URI(remote);
        } catch (URISyntaxException e) {
            throw new InvalidInputException(field, remote, accepted);
        }
        if (uri.getRawUserInfo() != null || uri.getRawQuery() != null || uri.getRawFragment() != null
                || uri.getPath() == null || uri.getPath().isEmpty()) {
            throw new InvalidInputException(field, remote, accepted);
        }
        boolean https = "https".equals(uri.getScheme()) && uri.getHost() != null;
        boolean file = "file".equals(uri.getScheme()) && (uri.getHost() == null || uri.getHost().isEmpty())
                && uri.getPath().startsWith("/") && !uri.getPath().matches("(.*/)?\\.\\.?(/.*)?");
        if (!https && !file) {
            throw new InvalidInputException(field, remote, accepted);
        }
        return remote;
    }

    /** The URL a clone of the controller's definitions is fetched from. */
    public static String urlOf(Endpoint controller) {
        return "https://" + controller.host() + ":" + controller.port() + REPOSITORY_PATH;
    }

    public Path directory() {
        return directory;
    }

    /** Where libvirt's own domain definitions are taken to be (a test's stand-in for {@link #LIBVIRT_CONFIG}). */
    DefinitionsClone libvirtConfig(Path config) {
        this.libvirtConfig = config;
        return this;
    }

    /**
     * Refuses to work in a directory that is, holds, or lies in libvirt's own directory of definitions, or whose
     * files libvirt's definitions are links to: the hard reset to the controller's definitions would delete or
     * rewrite libvirt's definitions of every domain not adopted yet (a runbook that linked /etc/libvirt/qemu into
     * its clone).
     */
    private void refuseLibvirtsOwnDirectory() throws IOException {
        if (!Files.isDirectory(libvirtConfig) || !Files.exists(directory)) {
            return;
        }
        Path config = libvirtConfig.toRealPath();
        Path clone = directory.toRealPath();
        String how = null;
        if (config.startsWith(clone) || clone.startsWith(config)) {
            how = libvirtConfig + (config.equals(libvirtConfig) ? "" : " (" + config + ")") + " is "
                    + (config.equals(clone) ? "that directory" : config.startsWith(clone) ? "inside it" : "around it");
        } else {
            java.util.Set<Object> cloneFiles = new java.util.HashSet<>();
            Path definitions = clone.resolve("etc/libvirt/qemu");
            if (Files.isDirectory(definitions, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                try (var files = Files.list(definitions)) {
                    for (Path f : files.toList()) {
                        var attrs = Files.readAttributes(f, java.nio.file.attribute.BasicFileAttributes.class,
                                java.nio.file.LinkOption.NOFOLLOW_LINKS);
                        if (attrs.isRegularFile() && attrs.fileKey() != null) {
                            cloneFiles.add(attrs.fileKey());
                        }
                    }
                }
            }
            try (var files = Files.list(config)) {
                for (Path f : files.sorted().toList()) {
                    var attrs = Files.readAttributes(f, java.nio.file.attribute.BasicFileAttributes.class,
                            java.nio.file.LinkOption.NOFOLLOW_LINKS);
                    if (attrs.isSymbolicLink() && Files.exists(f) && f.toRealPath().startsWith(clone)) {
                        how = f + " is a symbolic link to " + f.toRealPath();
                        break;
                    }
                    if (attrs.isRegularFile() && attrs.fileKey() != null && cloneFiles.contains(attrs.fileKey())) {
                        how = f + " is a hard link to a file of " + definitions;
                        break;
                    }
                }
            }
        }
        if (how != null) {
            throw new IOException(directory + " holds libvirt's own domain definitions: " + how + "; making it the"
                    + " controller's definitions would delete or rewrite libvirt's definition of every domain not"
                    + " adopted yet. Give libvirt its own copies first (see README, Adopting a fleet the runbook"
                    + " built, step 1), or set definitions-dir elsewhere");
        }
    }

    public String url() {
        return url;
    }

    /**
     * Clones the controller's definitions (first time) or fetches them, and resets the clone to the
     * controller's {@code main}. On failure the clone stays at the commit it had.
     */
    public synchronized PullResult pull() throws IOException {
        long start = System.nanoTime();
        try (Git git = openOrCreate()) {
            Repository repository = git.getRepository();
            refuseLibvirtsOwnDirectory();
            keepRunbook(git);
            configure(repository);
            ObjectId previous = repository.resolve(BRANCH + "^{commit}");
            git.fetch()
                    .setRemote(REMOTE)
                    .setRefSpecs(new RefSpec("+" + BRANCH + ":" + TRACKING))
                    .setTagOpt(TagOpt.NO_TAGS)
                    .setCheckFetchedObjects(true)
                    .setRemoveDeletedRefs(true)
                    .setTimeout(timeoutSeconds)
                    .setTransportConfigCallback(this::prepare)
                    .call();
            ObjectId target = repository.resolve(TRACKING + "^{commit}");
            if (target == null) {
                throw new IOException("the definitions repository at " + url + " has no branch main");
            }
            SortedSet<String> added = new TreeSet<>();
            SortedSet<String> changed = new TreeSet<>();
            SortedSet<String> removed = new TreeSet<>();
            SortedSet<String> ignored = new TreeSet<>();
            compare(repository, previous, target, added, changed, removed, ignored);
            if (previous != null) {
                changed.addAll(editedByHand(git, repository, target, added));
            }
            onMain(repository);
            git.reset().setMode(ResetType.HARD).setRef(target.name()).call();
            PullResult result = new PullResult(Optional.ofNullable(previous).map(ObjectId::name), target.name(),
                    added.stream().toList(), changed.stream().toList(), removed.stream().toList(), ignored.stream().toList(),
                    Duration.ofNanos(System.nanoTime() - start));
            report(result);
            return result;
        } catch (GitAPIException | JGitInternalException e) {
            // JGit reports some failures of reading or writing the clone (a missing object, a lock held) unchecked.
            throw new IOException("cannot pull the definitions from " + url + " into " + directory + ": " + reason(e), e);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The commit the clone's {@code main} is at; empty before the first pull. */
    public synchronized Optional<String> commit() throws IOException {
        if (!Files.isDirectory(directory.resolve(Constants.DOT_GIT), LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        try (Git git = Git.open(directory.toFile())) {
            return Optional.ofNullable(git.getRepository().resolve(BRANCH + "^{commit}")).map(ObjectId::name);
        }
    }

    /**
     * Whether the clone's {@code main} holds {@code commit} (hex SHA-1): it is main, or an ancestor of it. False for
     * a commit the clone does not have at all.
     */
    public synchronized boolean onMain(String commit) throws IOException {
        try (Git git = Git.open(directory.toFile()); RevWalk walk = new RevWalk(git.getRepository())) {
            Repository repository = git.getRepository();
            ObjectId main = repository.resolve(BRANCH + "^{commit}");
            ObjectId wanted = ObjectId.fromString(commit);
            if (main == null || !repository.getObjectDatabase().has(wanted)) {
                return false;
            }
            return walk.isMergedInto(walk.parseCommit(wanted), walk.parseCommit(main));
        } catch (org.eclipse.jgit.errors.IncorrectObjectTypeException e) {
            return false; // the object exists but is a tree or a blob, not a commit
        }
    }

    /**
     * Whether commit {@code descendant} is {@code ancestor} or descends from it (hex SHA-1s), as the clone knows
     * them; false when the clone lacks either.
     */
    public synchronized boolean contains(String descendant, String ancestor) throws IOException {
        try (Git git = Git.open(directory.toFile()); RevWalk walk = new RevWalk(git.getRepository())) {
            Repository repository = git.getRepository();
            ObjectId later = ObjectId.fromString(descendant);
            ObjectId earlier = ObjectId.fromString(ancestor);
            if (!repository.getObjectDatabase().has(later) || !repository.getObjectDatabase().has(earlier)) {
                return false;
            }
            return walk.isMergedInto(walk.parseCommit(earlier), walk.parseCommit(later));
        } catch (org.eclipse.jgit.errors.IncorrectObjectTypeException e) {
            return false;
        }
    }

    /**
     * The definition file of {@code vm} in the clone, once it is shown to be a regular file inside the clone
     * (not a link, not reached through one).
     */
    public Path definition(String vm) throws IOException {
        Path file = directory.resolve(DefinitionFiles.pathOf(vm));
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("no definition of " + vm + " in " + directory + ": " + DefinitionFiles.pathOf(vm)
                    + " is not a regular file");
        }
        if (!file.toRealPath().startsWith(directory.toRealPath())) {
            throw new IOException("the definition of " + vm + " resolves outside " + directory + "; refusing it");
        }
        return file;
    }

    private Git openOrCreate() throws IOException, GitAPIException {
        if (Files.isDirectory(directory.resolve(Constants.DOT_GIT), LinkOption.NOFOLLOW_LINKS)) {
            try {
                return Git.open(directory.toFile());
            } catch (IOException e) {
                throw new IOException("the definitions clone in " + directory + " cannot be opened (" + e.getMessage()
                        + "); remove it and the next pull clones afresh", e);
            }
        }
        if (Files.exists(directory, LinkOption.NOFOLLOW_LINKS) && !isEmptyDirectory(directory)) {
            throw new IOException(directory + " exists and is not a git clone; virtfleet will not overwrite it:"
                    + " move it away or configure another definitions directory");
        }
        Files.createDirectories(directory);
        return Git.init().setDirectory(directory.toFile()).setInitialBranch("main").call();
    }

    /**
     * A clone of the runbook's repository found where the definitions go (its {@code origin} is another repository
     * than this clone's): its history is kept in the clone as branch {@code runbook}, and its remote as remote
     * {@code runbook}, before the first pull makes {@code main} the controller's. Its uncommitted changes would be lost
     * by that pull, so a clone that has any is refused, naming them, until the operator commits (and pushes, the
     * runbook's way) or discards them. Done once: a clone that has a {@code runbook} branch already is left as it is.
     */
    private void keepRunbook(Git git) throws IOException, GitAPIException {
        Repository repository = git.getRepository();
        StoredConfig config = repository.getConfig();
        String theirs = config.getString("remote", REMOTE, "url");
        if (theirs == null || theirs.equals(url) || repository.exactRef(Constants.R_HEADS + RUNBOOK) != null) {
            return;
        }
        ObjectId head = repository.resolve(Constants.HEAD + "^{commit}");
        if (head != null) {
            org.eclipse.jgit.api.Status status = git.status().call();
            if (!status.isClean()) {
                java.util.TreeSet<String> changed = new java.util.TreeSet<>(status.getUncommittedChanges());
                changed.addAll(status.getUntracked());
                throw new IOException(directory + " is a clone of " + theirs + " (the runbook's repository) with"
                        + " uncommitted changes (" + String.join(", ", changed.stream().limit(10).toList())
                        + (changed.size() > 10 ? ", ..." : "") + "): commit and push them or discard them first;"
                        + " virtfleet keeps the clone's history as branch " + RUNBOOK + ", not uncommitted work");
            }
            org.eclipse.jgit.lib.RefUpdate branch = repository.updateRef(Constants.R_HEADS + RUNBOOK);
            branch.setNewObjectId(head);
            branch.setExpectedOldObjectId(ObjectId.zeroId());
            branch.setRefLogMessage("virtfleet: the runbook's history, kept before the definitions took main", false);
            org.eclipse.jgit.lib.RefUpdate.Result result = branch.update();
            if (result != org.eclipse.jgit.lib.RefUpdate.Result.NEW) {
                throw new IOException("cannot keep the runbook's history in " + directory + " as branch " + RUNBOOK
                        + ": " + result);
            }
        }
        config.setString("remote", RUNBOOK, "url", theirs);
        config.setString("remote", RUNBOOK, "fetch", "+refs/heads/*:refs/remotes/" + RUNBOOK + "/*");
        config.save();
        log.warn("{} was a clone of {} (the runbook's repository): its history is kept as branch {} ({}) and its remote"
                + " as remote {}; main now follows the controller's definitions", directory, theirs, RUNBOOK,
                head == null ? "no commit" : head.name(), RUNBOOK);
    }

    private void configure(Repository repository) throws IOException {
        StoredConfig config = repository.getConfig();
        String before = config.toText();
        config.setString("remote", REMOTE, "url", url);
        config.setString("remote", REMOTE, "fetch", "+" + BRANCH + ":" + TRACKING);
        config.setString("branch", "main", "remote", REMOTE);
        config.setString("branch", "main", "merge", BRANCH);
        // A link in the repository becomes a plain file holding its target: nothing in the clone points out of it.
        config.setBoolean("core", null, "symlinks", false);
        // A remote of the operator's is trusted as the JVM trusts web servers; a user's git config may not loosen that.
        config.setBoolean("http", null, "sslVerify", true);
        // JGit's housekeeping after a fetch runs within the pull, not on a thread of its own that would go on
        // writing in the clone after the pull returned (and after the agent stopped).
        config.setBoolean("gc", null, "autoDetach", false);
        // Every fetch adds a pack; past gc.autoPackLimit (50) JGit repacks them into one. By default it keeps the
        // packs it replaced for an hour, for other processes that might still read them, so the count stayed
        // over the limit and every later pull repacked the whole clone again (most of an agent's CPU per sync
        // after 50 syncs within an hour). Only this agent reads the clone, one pull at a time.
        config.setString("gc", null, "prunePackExpire", "now");
        if (!config.toText().equals(before)) {
            config.save();
        }
    }

    private void prepare(Transport transport) {
        if (connections == null) {
            remoteAsConfigured(transport);
            return;
        }
        if (!(transport instanceof TransportHttp http)) {
            // A git config rewriting the URL (url.<base>.insteadOf) to another protocol would end up here.
            throw new UncheckedIOException(new IOException("the definitions are fetched only over https from the controller;"
                    + " " + url + " was opened as " + transport.getURI()));
        }
        http.setHttpConnectionFactory(connections);
    }

    /**
     * A remote of the operator's is reached the way its URL says: a git config rewriting the URL
     * ({@code url.<base>.insteadOf}) to ssh or plain http would end up here.
     */
    private void remoteAsConfigured(Transport transport) {
        boolean https = url.startsWith("https:");
        boolean ok = https ? transport instanceof TransportHttp
                : !(transport instanceof TransportHttp) && "file".equals(transport.getURI().getScheme());
        if (!ok) {
            throw new UncheckedIOException(new IOException("the definitions remote " + url + " was opened as "
                    + transport.getURI() + "; only " + (https ? "https" : "file") + " is accepted for it"));
        }
    }

    /** Classifies every path under the definitions directory that differs between two commits. */
    private static void compare(Repository repository, ObjectId from, ObjectId to, Set<String> added, Set<String> changed,
                                Set<String> removed, Set<String> ignored) throws IOException {
        try (RevWalk commits = new RevWalk(repository); TreeWalk walk = new TreeWalk(repository)) {
            if (from == null) {
                walk.addTree(new EmptyTreeIterator());
            } else {
                walk.addTree(commits.parseCommit(from).getTree());
            }
            walk.addTree(commits.parseCommit(to).getTree());
            walk.setRecursive(true);
            walk.setFilter(TreeFilter.ANY_DIFF);
            while (walk.next()) {
                String path = walk.getPathString();
                if (!DefinitionFiles.inDirectory(path)) {
                    continue;
                }
                Optional<String> vm = DefinitionFiles.vmName(path);
                boolean before = vm.isPresent() && isFile(walk.getFileMode(0));
                boolean after = vm.isPresent() && isFile(walk.getFileMode(1));
                if (before && after) {
                    changed.add(vm.get());
                } else if (after) {
                    added.add(vm.get());
                } else if (before) {
                    removed.add(vm.get());
                }
                if (!after && walk.getFileMode(1) != FileMode.MISSING) {
                    ignored.add(path);
                }
            }
        }
    }

    /** Definitions the reset is about to put back because someone edited or deleted them in the clone. */
    private static Set<String> editedByHand(Git git, Repository repository, ObjectId target, Set<String> added)
            throws GitAPIException, IOException {
        Status status = git.status().addPath(DefinitionFiles.DIRECTORY.substring(0, DefinitionFiles.DIRECTORY.length() - 1)).call();
        Set<String> edited = new TreeSet<>();
        for (Set<String> paths : java.util.List.of(status.getModified(), status.getMissing(), status.getChanged(),
                status.getRemoved())) {
            for (String path : paths) {
                DefinitionFiles.vmName(path).filter(vm -> !added.contains(vm)).ifPresent(vm -> {
                    if (existsIn(repository, target, path)) {
                        edited.add(vm);
                    }
                });
            }
        }
        return edited;
    }

    private static boolean existsIn(Repository repository, ObjectId commit, String path) {
        try (RevWalk commits = new RevWalk(repository)) {
            TreeWalk walk = TreeWalk.forPath(repository, path, commits.parseCommit(commit).getTree());
            return walk != null && isFile(walk.getFileMode(0));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Makes HEAD the branch main (a hand-made checkout may have moved it), so the reset moves main. */
    private static void onMain(Repository repository) throws IOException {
        if (BRANCH.equals(repository.getFullBranch())) {
            return;
        }
        RefUpdate.Result result = repository.getRefDatabase().newUpdate(Constants.HEAD, false).link(BRANCH);
        if (result != RefUpdate.Result.NEW && result != RefUpdate.Result.FORCED && result != RefUpdate.Result.NO_CHANGE) {
            throw new IOException("cannot point HEAD of the definitions clone at main: " + result);
        }
    }

    private static boolean isFile(FileMode mode) {
        return mode == FileMode.REGULAR_FILE || mode == FileMode.EXECUTABLE_FILE;
    }

    private static boolean isEmptyDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        }
    }

    private void report(PullResult r) {
        if (r.moved() || r.definitionsChanged()) {
            log.info("definitions pulled from {}: {} -> {}; added {}, changed {}, removed {} ({} ms)", url,
                    r.previous().map(c -> c.substring(0, 12)).orElse("(first clone)"), r.commit().substring(0, 12),
                    r.added(), r.changed(), r.removed(), r.took().toMillis());
        }
        if (!r.ignored().isEmpty()) {
            log.warn("the definitions repository holds files under {} that are not VM definitions ({}.xml with a valid VM"
                    + " name); ignored: {}", DefinitionFiles.DIRECTORY, DefinitionFiles.DIRECTORY + "<vm>", r.ignored());
        }
    }

    private static String reason(Throwable e) {
        StringBuilder out = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            if (c.getMessage() != null && !out.toString().contains(c.getMessage())) {
                out.append(": ").append(c.getMessage());
            }
        }
        return out.toString();
    }
}
