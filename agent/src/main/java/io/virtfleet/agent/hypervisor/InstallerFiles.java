package io.virtfleet.agent.hypervisor;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The Debian installer's kernel and initrd on this host, for VMs the controller installs by direct kernel boot
 * (boot-mode kernel): the domain boots {@code linux} with {@code initrd.gz} and its preseed URL on the command
 * line, and no PXE server is needed. They are the only host files besides a VM's own disk image that a definition
 * may name, and only as its {@code <os>}'s kernel and initrd (see {@link DefinitionRules}).
 *
 * @param directory the agent's {@code installer-dir}: by default where Debian's package
 *                  {@code debian-installer-12-netboot-amd64} puts them
 */
public record InstallerFiles(Path directory) {
    /** Where Debian's package puts them; the agent's default {@code installer-dir}. */
    public static final String PACKAGE_PATH = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
    public static final Path PACKAGE_DIRECTORY = Path.of(PACKAGE_PATH);

    public InstallerFiles {
        directory = directory.toAbsolutePath().normalize();
    }

    public Path kernel() {
        return directory.resolve("linux");
    }

    public Path initrd() {
        return directory.resolve("initrd.gz");
    }

    /** Whether both files are here as regular files (a link could be turned to any file of the host). */
    public boolean available() {
        return Files.isRegularFile(kernel(), LinkOption.NOFOLLOW_LINKS)
                && Files.isRegularFile(initrd(), LinkOption.NOFOLLOW_LINKS);
    }

    /** The files, if the host has them. */
    public Optional<InstallerFiles> ifAvailable() {
        return available() ? Optional.of(this) : Optional.empty();
    }
}
