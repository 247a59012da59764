package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Optional;

/**
 * The Debian installer's kernel and initrd on this host, for VMs the controller installs by direct kernel boot
 * (boot-mode kernel): the domain boots {@code linux} with the initrd and its preseed URL on the command line, and no
 * PXE server is needed. They are the only host files besides a VM's own disk image that a definition may name, and
 * only as its {@code <os>}'s kernel and initrd (see {@link DefinitionRules}).
 *
 * <p>The initrd domains boot is Debian's {@code initrd.gz} with virtfleet's start-up hook appended
 * ({@link InstallerHook}: the routes of a failover IP's installer), kept by the agent in its state directory
 * ({@link #prepare}); Debian's own file is never changed.
 *
 * @param directory      the agent's {@code installer-dir}: by default where Debian's package
 *                       {@code debian-installer-12-netboot-amd64} puts them
 * @param preparedInitrd Debian's initrd with the hook appended; null for Debian's as it is
 */
public record InstallerFiles(Path directory, Path preparedInitrd) {
    /** Where Debian's package puts them; the agent's default {@code installer-dir}. */
    public static final String PACKAGE_PATH = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
    public static final Path PACKAGE_DIRECTORY = Path.of(PACKAGE_PATH);

    public InstallerFiles {
        directory = directory.toAbsolutePath().normalize();
        preparedInitrd = preparedInitrd == null ? null : preparedInitrd.toAbsolutePath().normalize();
    }

    /** Debian's files as they are, without virtfleet's hook. */
    public InstallerFiles(Path directory) {
        this(directory, null);
    }

    /**
     * The files of {@code directory}, with the initrd domains boot kept up to date in
     * {@code <stateDirectory>/installer/initrd.gz}: written (atomically, synced) when missing or older than Debian's,
     * else reused. Without Debian's files nothing is written and the result is not {@link #available}.
     */
    public static InstallerFiles prepare(Path directory, Path stateDirectory) throws IOException {
        InstallerFiles debian = new InstallerFiles(directory);
        Path prepared = stateDirectory.resolve("installer").resolve("initrd.gz");
        InstallerFiles files = new InstallerFiles(directory, prepared);
        if (debian.available() && !current(debian.initrd(), prepared)) {
            Path source = debian.initrd();
            StateFiles.write(prepared, out -> {
                try (InputStream in = Files.newInputStream(source)) {
                    in.transferTo(out);
                }
                out.write(InstallerHook.archive());
            });
        }
        return files;
    }

    /** Whether {@code prepared} is Debian's {@code source} as it is now, followed by the hook of this agent. */
    private static boolean current(Path source, Path prepared) throws IOException {
        if (!Files.isRegularFile(prepared, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        byte[] hook = InstallerHook.archive();
        if (Files.size(prepared) != Files.size(source) + hook.length
                || Files.getLastModifiedTime(prepared).compareTo(Files.getLastModifiedTime(source)) < 0) {
            return false;
        }
        try (FileChannel in = FileChannel.open(prepared, StandardOpenOption.READ)) {
            ByteBuffer tail = ByteBuffer.allocate(hook.length);
            in.position(in.size() - hook.length);
            while (tail.hasRemaining() && in.read(tail) >= 0) {
                // read the whole tail
            }
            return Arrays.equals(tail.array(), hook);
        }
    }

    public Path kernel() {
        return directory.resolve("linux");
    }

    /** The initrd domains boot: the prepared one, else Debian's. */
    public Path initrd() {
        return preparedInitrd != null ? preparedInitrd : debianInitrd();
    }

    /** Debian's initrd as its package installed it. */
    public Path debianInitrd() {
        return directory.resolve("initrd.gz");
    }

    /** Whether the kernel and the initrd are here as regular files (a link could be turned to any file of the host). */
    public boolean available() {
        return Files.isRegularFile(kernel(), LinkOption.NOFOLLOW_LINKS)
                && Files.isRegularFile(debianInitrd(), LinkOption.NOFOLLOW_LINKS)
                && Files.isRegularFile(initrd(), LinkOption.NOFOLLOW_LINKS);
    }

    /** The files, if the host has them. */
    public Optional<InstallerFiles> ifAvailable() {
        return available() ? Optional.of(this) : Optional.empty();
    }
}
