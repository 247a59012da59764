package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.install.InstallerHook;
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
 * ({@link InstallerHook}: the routes of a failover IP's installer), kept by the agent in
 * {@code <images-dir>/.virtfleet-installer/} ({@link #prepare}); Debian's own file is never changed.
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
     * The files of {@code directory}, with the initrd domains boot kept in {@code preparedDirectory} (in the images
     * directory, which QEMU can traverse whatever user it runs as; the file is world-readable like Debian's): written
     * (atomically, synced) when missing or made from another Debian file than the one there now, else reused.
     * Without Debian's files nothing is written and the result is not {@link #available}. Checked at the agent's
     * start and again before each start of a domain that boots the installer ({@link #refresh}).
     */
    public static InstallerFiles prepare(Path directory, Path preparedDirectory) throws IOException {
        InstallerFiles debian = new InstallerFiles(directory);
        Path prepared = preparedDirectory.resolve("initrd.gz");
        InstallerFiles files = new InstallerFiles(directory, prepared);
        if (!debian.available()) {
            return files;
        }
        Path source = debian.initrd();
        String identity = identity(source);
        Path identityFile = preparedDirectory.resolve("initrd.gz.source");
        if (current(source, prepared) && Files.isRegularFile(identityFile)
                && Files.readString(identityFile).strip().equals(identity)) {
            return files;
        }
        byte[] hook = InstallerHook.archive();
        long padding = padding(Files.size(source));
        StateFiles.writeReadable(prepared, out -> {
            try (InputStream in = Files.newInputStream(source)) {
                in.transferTo(out);
            }
            // The kernel reads an uncompressed archive only from a 4-byte boundary of the initrd.
            out.write(new byte[(int) padding]);
            out.write(hook);
        });
        StateFiles.write(identityFile, identity + "\n");
        return files;
    }

    /** Held while the prepared initrd is checked or written (package-private: a test holds it to see who waits). */
    static final Object PREPARING = new Object();

    /**
     * Makes the prepared initrd current before a domain boots it: rewritten when Debian's changed since it was made
     * (a package upgrade under a running agent), so that QEMU boots Debian's kernel with the initrd of the same
     * package, never a new kernel with the old modules. Costs two stats and an 8 KiB read when nothing changed.
     */
    public void refresh() throws IOException {
        if (preparedInitrd == null) {
            return; // Debian's as it is
        }
        synchronized (PREPARING) { // two starts at once write it once
            prepare(directory, preparedInitrd.getParent());
        }
    }

    /** What tells one Debian initrd from the next: dpkg keeps a package's own times, so size and time together. */
    private static String identity(Path source) throws IOException {
        return Files.size(source) + " " + Files.getLastModifiedTime(source).toMillis();
    }

    private static long padding(long size) {
        return (4 - size % 4) % 4;
    }

    /** Whether {@code prepared} has the size of Debian's {@code source} with the hook, and ends with this agent's hook. */
    private static boolean current(Path source, Path prepared) throws IOException {
        if (!Files.isRegularFile(prepared, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        byte[] hook = InstallerHook.archive();
        long size = Files.size(source);
        if (Files.size(prepared) != size + padding(size) + hook.length) {
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
