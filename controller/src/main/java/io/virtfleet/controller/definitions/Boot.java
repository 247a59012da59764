package io.virtfleet.controller.definitions;

import java.util.Objects;

/**
 * How a VM's domain boots: from the network first (PXE installs it, or the site boots it its own way), from its
 * disk only (installed), or straight into the Debian installer's kernel with the VM's preseed URL on its command
 * line (direct kernel boot, for sites without PXE).
 *
 * @param kind    which of the three
 * @param kernel  the installer's kernel on the VM's home host (KERNEL only, once known, else empty)
 * @param initrd  the installer's initrd on the VM's home host (KERNEL only, once known, else empty)
 * @param cmdline the installer's kernel command line (KERNEL only, else empty)
 */
public record Boot(Kind kind, String kernel, String initrd, String cmdline) {
    public enum Kind { NETWORK, DISK, KERNEL }

    public Boot {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(initrd, "initrd");
        Objects.requireNonNull(cmdline, "cmdline");
    }

    public static Boot network() {
        return new Boot(Kind.NETWORK, "", "", "");
    }

    public static Boot disk() {
        return new Boot(Kind.DISK, "", "", "");
    }

    /** The installer with this command line, from files the home host reports (see {@link #withFiles}). */
    public static Boot kernel(String cmdline) {
        return new Boot(Kind.KERNEL, "", "", cmdline);
    }

    /** The same boot with the home host's installer files. */
    public Boot withFiles(String kernelPath, String initrdPath) {
        return new Boot(kind, kernelPath, initrdPath, cmdline);
    }

    public boolean isKernel() {
        return kind == Kind.KERNEL;
    }
}
