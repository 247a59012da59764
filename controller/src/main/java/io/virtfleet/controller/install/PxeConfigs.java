package io.virtfleet.controller.install;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.MacAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Per-VM pxelinux configs in the site's TFTP root: {@code pxelinux.cfg/01-<mac with dashes>}, which pxelinux
 * tries before any other name (01 is the ARP type of Ethernet). While the VM's install is armed it boots
 * debian-installer with its own preseed URL; once installed, the file says "boot from the local disk" (as
 * Cobbler's pxe-just-once does) until the VM is deleted: the installer reboots the guest while the running domain
 * still tries the network first, and without a file of its own the VM would get the site's default config,
 * which at many sites installs a machine. The installer's files are the
 * site's: {@code debian-installer/amd64/linux} and {@code initrd.gz}, as the netboot tarball and Debian's
 * {@code debian-installer-12-netboot-amd64} package lay them out.
 */
public final class PxeConfigs {
    static final String KERNEL = "debian-installer/amd64/linux";
    static final String INITRD = "debian-installer/amd64/initrd.gz";

    private final Path directory;

    public PxeConfigs(Path tftpRoot) {
        this.directory = tftpRoot.resolve("pxelinux.cfg");
    }

    /** The file pxelinux looks for first for this MAC. */
    public Path fileOf(String mac) {
        String checked = MacAddress.parse("mac", mac).text();
        return directory.resolve("01-" + checked.replace(':', '-'));
    }

    /**
     * Writes (or replaces) the VM's config, atomically: pxelinux must never read half a file.
     *
     * @param kernelArguments the installer's command line after {@code initrd=}: built from checked values only
     */
    public Path write(String mac, String vm, String kernelArguments) throws IOException {
        // The serial line first: the VMs have no screen anyone looks at, and the stock config is a VGA menu.
        return replace(mac, "# Unattended install of VM " + vm + ", written by the virtfleet controller; replaced by a local"
                + " boot once it is installed.\n"
                + "serial 0 115200\n"
                + "default install\n"
                + "prompt 0\n"
                + "timeout 0\n"
                + "label install\n"
                + "  kernel " + KERNEL + "\n"
                + "  append initrd=" + INITRD + " " + kernelArguments + "\n");
    }

    /** Writes the VM's config atomically: pxelinux must never read half a file. */
    private Path replace(String mac, String text) throws IOException {
        Path file = fileOf(mac);
        StateFiles.write(file, text);
        return file;
    }

    /** Replaces the VM's config with one that boots its local disk: its installer cannot come back by itself. */
    public Path bootFromDisk(String mac, String vm) throws IOException {
        return replace(mac, "# VM " + vm + " is installed: it boots from its disk. Written by the virtfleet controller;"
                + " removed with the VM, rewritten by virtfleet vm reinstall.\n"
                + "default local\n"
                + "prompt 0\n"
                + "timeout 0\n"
                + "label local\n"
                + "  localboot 0\n");
    }

    /** Removes the VM's config (the VM is deleted): from its next network boot a machine with this MAC gets the site's default. */
    public void remove(String mac) throws IOException {
        StateFiles.delete(fileOf(mac));
    }
}
