package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.Locale;

/** How a new VM reaches its installer with nobody at the console (controller option {@code boot-mode}). */
public enum BootMode {
    /** The controller arranges nothing: the site boots its VMs its own way (the behaviour before installs). */
    NONE,
    /** The controller writes a per-MAC pxelinux config into the site's TFTP root (dnsmasq, tftpd). */
    PXE,
    /**
     * Direct kernel boot, for sites without PXE: the domain boots the Debian installer's kernel and initrd from its
     * host (each agent's installer-dir) with the VM's preseed URL on the kernel command line.
     */
    KERNEL;

    public static BootMode parse(String field, String value) {
        for (BootMode m : values()) {
            if (m.name().toLowerCase(Locale.ROOT).equals(value)) {
                return m;
            }
        }
        throw new InvalidInputException(field, value, "none (the site boots its VMs its own way), pxe (per-MAC"
                + " pxelinux configs in tftp-root) or kernel (direct kernel boot of the installer on each host)");
    }

    public String option() {
        return name().toLowerCase(Locale.ROOT);
    }
}
