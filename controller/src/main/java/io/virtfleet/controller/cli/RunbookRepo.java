package io.virtfleet.controller.cli;

import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.RunbookDefinition;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.lib.ObjectId;

/**
 * The runbook's repository, read for adoption: every {@code etc/libvirt/qemu/<vm>.xml} and the commit it is at. A
 * directory is read as it is and never written; a URL is cloned into a temporary directory that is removed again.
 */
final class RunbookRepo {
    static final String DIRECTORY = "etc/libvirt/qemu";
    private static final long MAX_BYTES = 1 << 20;

    record Read(List<RunbookDefinition> definitions, String commit) {}

    private RunbookRepo() {}

    static Read read(String source) throws IOException {
        Path dir = Path.of(source);
        if (Files.isDirectory(dir)) {
            return readDirectory(dir);
        }
        if (!source.matches("(https|ssh|file|git)://.+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:.+")) {
            throw new IOException("neither a directory nor a git URL (https://, ssh://, file://, user@host:path)");
        }
        Path temp = Files.createTempDirectory("virtfleet-runbook-");
        try {
            try (Git git = Git.cloneRepository().setURI(source).setDirectory(temp.toFile()).setNoCheckout(false).call()) {
                return readDirectory(temp);
            } catch (GitAPIException e) {
                throw new IOException("cannot clone it: " + e.getMessage(), e);
            }
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
                        continue; // no VM virtfleet could name (the controller lists such domains with the reason)
                    }
                    out.add(RunbookDefinition.newBuilder().setVm(vm)
                            .setDomainXml(Files.readString(f, StandardCharsets.UTF_8)).build());
                }
            }
        }
        out.sort(Comparator.comparing(RunbookDefinition::getVm));
        String commit = "";
        if (Files.isDirectory(root.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
            try (Git git = Git.open(root.toFile())) {
                ObjectId head = git.getRepository().resolve("HEAD^{commit}");
                commit = head == null ? "" : head.name();
            }
        }
        return new Read(out, commit);
    }
}
