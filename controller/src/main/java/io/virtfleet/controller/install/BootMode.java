package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.Locale;

/** How a new VM reaches its installer with nobody at the console (controller option {@code boot-mode}). */
public enum BootMode {
    /** The controller arranges nothing: the site boots its VMs its own way (the behaviour before installs). */
    NONE,
    /** The controller writes a per-MAC pxelinux config into the site's TFTP root (dnsmasq, tftpd). */
    PXE;

    public static BootMode parse(String field, String value) {
        for (BootMode m : values()) {
            if (m.name().toLowerCase(Locale.ROOT).equals(value)) {
                return m;
            }
        }
        // Direct kernel boot needs the agents to provide the installer's kernel and initrd, which the agents'
        // definition rules refuse today (no <kernel>/<initrd>): it is named here so an operator asking knows.
        throw new InvalidInputException(field, value, "none or pxe (direct kernel boot is not available yet)");
    }

    public String option() {
        return name().toLowerCase(Locale.ROOT);
    }
}
