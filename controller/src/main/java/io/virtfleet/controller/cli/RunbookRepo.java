package io.virtfleet.controller.cli;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.RunbookDefinition;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The runbook's repository, read for adoption: every {@code etc/libvirt/qemu/<vm>.xml} and the commit it is at. A
 * directory is read as it is and never written; a URL is cloned by the {@code git} program (from an argument list,
 * never a shell) into a temporary directory that is removed again. The CLI carries no git library of its own.
 *
 * <p>A clone an agent has taken over (the hypervisor's {@code /srv/common}) keeps the runbook's history as branch
 * {@code runbook} while its work tree holds the controller's definitions: from such a clone the {@code runbook}
 * branch is read, not the work tree. A file that cannot be a candidate (a name that is no DNS label, more than 1 MiB,
 * not a regular file) is listed as refused with the reason, never dropped in silence.
 */
final class RunbookRepo {
    static final String DIRECTORY = "etc/libvirt/qemu";
    private static final long MAX_BYTES = 1 << 20;
    private static final Duration CLONE_TIMEOUT = Duration.ofMinutes(5);

    /** The branch an agent keeps the runbook's history in when it takes a runbook clone over. */
    static final String RUNBOOK_BRANCH = "runbook";

    /** A file of the directory that is no candidate, and why (the VM name as the file names it). */
    record Refused(String vm, String reason) {}

    /**
     * @param branch the branch read ({@link #RUNBOOK_BRANCH}), or empty for the work tree or the clone's default
     */
    record Read(List<RunbookDefinition> definitions, List<Refused> refused, String commit, String branch) {}

    private RunbookRepo() {}

    /** Reads {@code source}; a temporary clone that cannot be removed again is named on {@code err}. */
    static Read read(String source, java.io.PrintWriter err) throws IOException {
        Path dir = Path.of(source);
        boolean bare = Files.isRegularFile(dir.resolve("HEAD")) && Files.isDirectory(dir.resolve("objects"));
        if (Files.isDirectory(dir) && !bare) {
            return readDirectory(dir);
        }
        if (!bare && !source.matches("(https|ssh|file|git)://[^\\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\\s]+")) {
            throw new IOException("neither a directory nor a git URL (https://, ssh://, git://, file://, user@host:path)");
        }
        Path temp = Files.createTempDirectory("virtfleet-runbook-");
        try {
            Path clone = temp.resolve("repo");
            // A bare repository (the runbook's central one, on this machine) is cloned like a URL: it has no work tree.
            String from = bare ? dir.toAbsolutePath().toString() : source;
            Command.Result r = git(Command.of("git", "clone", "--quiet", "--depth", "1", "--", from, clone.toString()));
            if (r.exitCode() != 0) {
                throw new IOException("git clone failed: " + r.reason());
            }
            return readDirectory(clone);
        } finally {
            List<Path> left = new ArrayList<>();
            try (Stream<Path> walk = Files.walk(temp)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                    if (!p.toFile().delete()) {
                        left.add(p);
                    }
                });
            } catch (IOException | java.io.UncheckedIOException e) {
                left.add(temp);
            }
            if (!left.isEmpty()) {
                err.println("warning: the temporary clone " + temp + " could not be removed (" + left.size() + " files"
                        + " left, e.g. " + left.get(0) + "): remove it by hand");
                err.flush();
            }
        }
    }

    private static Read readDirectory(Path root) throws IOException {
        boolean gitTree = Files.exists(root.resolve(".git"), LinkOption.NOFOLLOW_LINKS);
        if (gitTree) {
            String runbook = commitOf(root, "refs/heads/" + RUNBOOK_BRANCH);
            if (!runbook.isEmpty()) {
                return readBranch(root, runbook);
            }
        }
        List<RunbookDefinition> out = new ArrayList<>();
        List<Refused> refused = new ArrayList<>();
        Path qemu = root.resolve(DIRECTORY);
        if (Files.isDirectory(qemu, LinkOption.NOFOLLOW_LINKS)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(qemu, "*.xml")) {
                for (Path f : files) {
                    String file = f.getFileName().toString();
                    String why = !Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS) ? notAFile(file)
                            : refusal(file, Files.size(f));
                    if (why != null) {
                        refused.add(new Refused(vmOf(file), why));
                        continue;
                    }
                    out.add(RunbookDefinition.newBuilder().setVm(vmOf(file))
                            .setDomainXml(Files.readString(f, StandardCharsets.UTF_8)).build());
                }
            }
        }
        return read(out, refused, gitTree ? commitOf(root, "HEAD") : "", "");
    }

    /**
     * The {@code etc/libvirt/qemu/*.xml} files of {@code commit} (the {@code runbook} branch an agent kept), read with
     * git ({@code ls-tree}, {@code cat-file}): the work tree holds the controller's definitions by then.
     */
    private static Read readBranch(Path root, String commit) throws IOException {
        Command.Result tree = git(Command.of("git", "-C", root.toString(), "ls-tree", "-z", "-l", commit, "--",
                DIRECTORY + "/"));
        if (tree.exitCode() != 0) {
            throw new IOException("cannot list " + DIRECTORY + " of branch " + RUNBOOK_BRANCH + ": " + tree.reason());
        }
        List<RunbookDefinition> out = new ArrayList<>();
        List<Refused> refused = new ArrayList<>();
        for (String line : tree.stdout().split("\0")) {
            // "<mode> <type> <object> <size>\t<path>", size "-" for what is no blob
            int tab = line.indexOf('\t');
            if (tab < 0) {
                continue;
            }
            String[] fields = line.substring(0, tab).trim().split(" +");
            String file = line.substring(tab + 1).substring(line.substring(tab + 1).lastIndexOf('/') + 1);
            if (fields.length != 4 || !file.endsWith(".xml")) {
                continue;
            }
            String why = !fields[0].startsWith("100") ? notAFile(file) : refusal(file, Long.parseLong(fields[3]));
            if (why != null) {
                refused.add(new Refused(vmOf(file), why));
                continue;
            }
            Command.Result blob = git(Command.of("git", "-C", root.toString(), "cat-file", "blob", fields[2]));
            if (blob.exitCode() != 0) {
                throw new IOException("cannot read " + DIRECTORY + "/" + file + " of branch " + RUNBOOK_BRANCH + ": "
                        + blob.reason());
            }
            out.add(RunbookDefinition.newBuilder().setVm(vmOf(file)).setDomainXml(blob.stdout()).build());
        }
        return read(out, refused, commit, RUNBOOK_BRANCH);
    }

    private static Read read(List<RunbookDefinition> out, List<Refused> refused, String commit, String branch) {
        out.sort(Comparator.comparing(RunbookDefinition::getVm));
        refused.sort(Comparator.comparing(Refused::vm));
        return new Read(out, refused, commit, branch);
    }

    private static String vmOf(String file) {
        return file.replaceFirst("\\.xml$", "");
    }

    /** Why the file of {@code size} bytes named {@code file} is no candidate, or null. */
    static String refusal(String file, long size) {
        String vm = vmOf(file);
        if (!Names.isDnsLabel(vm)) {
            return "the runbook's " + DIRECTORY + "/" + file + ": \"" + vm + "\" is no DNS label (lowercase letters,"
                    + " digits and '-', at most 63): virtfleet names VMs, disks and host names alike; rename the domain"
                    + " (virsh domrename) and its file first";
        }
        if (size > MAX_BYTES) {
            return "the runbook's " + DIRECTORY + "/" + file + " has " + size + " bytes, more than a definition's "
                    + MAX_BYTES + " (1 MiB): not read";
        }
        return null;
    }

    private static String notAFile(String file) {
        return "the runbook's " + DIRECTORY + "/" + file + " is no regular file (a link or a directory): not read;"
                + " adopt without --from-repo to take libvirt's definition";
    }

    /** The commit {@code ref} names in the repository at {@code root}, or empty when none (or without git). */
    private static String commitOf(Path root, String ref) {
        try {
            Command.Result r = git(Command.of("git", "-C", root.toString(), "rev-parse", "--verify", "--quiet",
                    ref + "^{commit}"));
            return r.exitCode() == 0 && r.stdout().strip().matches("[0-9a-f]{40}") ? r.stdout().strip() : "";
        } catch (IOException e) {
            return ""; // the commit only names where the definitions were read; without git, none is named
        }
    }

    private static Command.Result git(Command command) throws IOException {
        try {
            return command.timeout(CLONE_TIMEOUT).env("GIT_TERMINAL_PROMPT", "0").run();
        } catch (CommandException e) {
            throw new IOException("needs the git program (apt install git): " + e.getMessage(), e);
        }
    }
}
