package io.virtfleet.controller.install;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.install.InstallerHook;
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
 * {@code debian-installer-12-netboot-amd64} package lay them out. A failover-IP VM's installer gets a second initrd,
 * virtfleet's own ({@link InstallerHook}, kept at {@code virtfleet/installer-hook.cpio}): pxelinux loads both and the
 * kernel unpacks one after the other, so its routes to a gateway outside the VM's /32 exist before netcfg runs.
 */
public final class PxeConfigs {
    static final String KERNEL = "debian-installer/amd64/linux";
    static final String INITRD = "debian-installer/amd64/initrd.gz";
    /** virtfleet's addition to the installer's initrd, relative to the TFTP root as pxelinux names files. */
    static final String HOOK = "virtfleet/installer-hook.cpio";

    private final Path directory;
    private final Path hook;

    public PxeConfigs(Path tftpRoot) {
        this.directory = tftpRoot.resolve("pxelinux.cfg");
        this.hook = tftpRoot.resolve(HOOK);
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
     * @param withHook        whether the installer also loads virtfleet's hook (failover-IP VMs); the hook's file is
     *                        (re)written first when it is missing or differs from this controller's
     */
    public Path write(String mac, String vm, String kernelArguments, boolean withHook) throws IOException {
        String initrd = INITRD;
        if (withHook) {
            writeHook();
            initrd = INITRD + "," + HOOK;
        }
        // The serial line first: the VMs have no screen anyone looks at, and the stock config is a VGA menu.
        return replace(mac, "# Unattended install of VM " + vm + ", written by the virtfleet controller; replaced by a local"
                + " boot once it is installed.\n"
                + "serial 0 115200\n"
                + "default install\n"
                + "prompt 0\n"
                + "timeout 0\n"
                + "label install\n"
                + "  kernel " + KERNEL + "\n"
                + "  append initrd=" + initrd + " " + kernelArguments + "\n");
    }

    /**
     * Writes the hook where pxelinux finds it, unless the same bytes are there: a controller upgraded with a changed
     * hook replaces the file at the next failover VM's arming, and an unchanged one is not rewritten under a TFTP
     * transfer. Readable by everyone: the TFTP server serves it to any VM, and it holds no secret.
     */
    private void writeHook() throws IOException {
        byte[] archive = InstallerHook.archive();
        if (Files.isRegularFile(hook, java.nio.file.LinkOption.NOFOLLOW_LINKS) && Files.size(hook) == archive.length
                && java.util.Arrays.equals(Files.readAllBytes(hook), archive)) {
            return;
        }
        publish(hook, archive);
    }

    /** Writes the VM's config atomically: pxelinux must never read half a file. */
    private Path replace(String mac, String text) throws IOException {
        Path file = fileOf(mac);
        publish(file, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return file;
    }

    /**
     * Writes a file the TFTP server serves: world-readable, in a world-traversable directory, whatever the
     * controller's umask (its unit's is 0027, and dnsmasq or tftpd read as their own users). TFTP serves any file
     * to anyone on the network, so these permissions hide nothing that was hidden.
     */
    private static void publish(Path file, byte[] content) throws IOException {
        StateFiles.writeReadable(file, content);
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
