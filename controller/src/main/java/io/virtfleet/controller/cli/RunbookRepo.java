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
 */
final class RunbookRepo {
    static final String DIRECTORY = "etc/libvirt/qemu";
    private static final long MAX_BYTES = 1 << 20;
    private static final Duration CLONE_TIMEOUT = Duration.ofMinutes(5);

    record Read(List<RunbookDefinition> definitions, String commit) {}

    private RunbookRepo() {}

    static Read read(String source) throws IOException {
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
            try (Stream<Path> walk = Files.walk(temp)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Read readDirectory(Path root) throws IOException {
        List<RunbookDefinition> out = new ArrayList<>();
        Path qemu = root.resolve(DIRECTORY);
        if (Files.isDirectory(qemu, LinkOption.NOFOLLOW_LINKS)) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(qemu, "*.xml")) {
                for (Path f : files) {
                    String vm = f.getFileName().toString().replaceFirst("\\.xml$", "");
                    if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS) || !Names.isDnsLabel(vm)
                            || Files.size(f) > MAX_BYTES) {
                        continue; // no VM virtfleet could name (adopt without --from-repo lists such domains, refused)
                    }
                    out.add(RunbookDefinition.newBuilder().setVm(vm)
                            .setDomainXml(Files.readString(f, StandardCharsets.UTF_8)).build());
                }
            }
        }
        out.sort(Comparator.comparing(RunbookDefinition::getVm));
        String commit = "";
        if (Files.exists(root.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
            try {
                Command.Result r = git(Command.of("git", "-C", root.toString(), "rev-parse", "--verify", "HEAD^{commit}"));
                commit = r.exitCode() == 0 && r.stdout().strip().matches("[0-9a-f]{40}") ? r.stdout().strip() : "";
            } catch (IOException e) {
                commit = ""; // the commit only names where the definitions were read; without git, none is named
            }
        }
        return new Read(out, commit);
    }

    private static Command.Result git(Command command) throws IOException {
        try {
            return command.timeout(CLONE_TIMEOUT).env("GIT_TERMINAL_PROMPT", "0").run();
        } catch (CommandException e) {
            throw new IOException("needs the git program (apt install git): " + e.getMessage(), e);
        }
    }
}
