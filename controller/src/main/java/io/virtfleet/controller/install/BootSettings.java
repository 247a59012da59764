package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * How VMs boot their installer and where the installer finds the controller.
 *
 * @param mode       none (default: nothing arranged), pxe or kernel
 * @param tftpRoot   the site's TFTP root; per-MAC configs go to its {@code pxelinux.cfg/} (pxe mode)
 * @param listen     where the install HTTP server listens (plain HTTP: the installer has no certificate)
 * @param installUrl the server's base URL as the VMs reach it, e.g. {@code http://10.0.0.1:7444}; empty when
 *                   the mode is none and nobody was told
 */
public record BootSettings(BootMode mode, Path tftpRoot, InetSocketAddress listen, String installUrl) {
    public static final int DEFAULT_PORT = 7444;

    public BootSettings {
        if (!installUrl.isEmpty()) {
            HttpUrls.check("install-url", installUrl);
            if (installUrl.endsWith("/") || installUrl.indexOf('/', "http://".length() + 1) >= 0
                    || installUrl.contains("?")) {
                throw new InvalidInputException("install-url", installUrl, "a base URL without path or trailing"
                        + " '/', e.g. http://10.0.0.1:7444");
            }
        }
        if (mode != BootMode.NONE && installUrl.isEmpty()) {
            throw new InvalidInputException("install-url", installUrl, "the install server's URL as the VMs reach"
                    + " it, e.g. http://10.0.0.1:7444 (required with boot-mode " + mode.option() + ")");
        }
        if (mode == BootMode.PXE) {
            if (tftpRoot == null) {
                throw new InvalidInputException("tftp-root", null, "the TFTP root directory (required with boot-mode pxe)");
            }
        }
    }

    public static BootSettings defaults() {
        return new BootSettings(BootMode.NONE, Path.of("/srv/tftp"), new InetSocketAddress("0.0.0.0", DEFAULT_PORT), "");
    }

    /** Whether VMs are armed for an unattended install at create. */
    public boolean arms() {
        return mode != BootMode.NONE;
    }
}
