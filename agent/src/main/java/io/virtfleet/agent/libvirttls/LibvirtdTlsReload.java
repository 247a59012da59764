package io.virtfleet.agent.libvirttls;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Has the daemon that serves libvirt's TLS port load its CA, certificate and key again, without a restart:
 * {@code virt-admin -c ADMIN-URI server-update-tls SERVER}. libvirtd reads those files at start and otherwise only when
 * asked so, and then (libvirt 9.0) from its default paths ({@code /etc/pki/CA/cacert.pem},
 * {@code /etc/pki/libvirt/servercert.pem}, {@code /etc/pki/libvirt/private/serverkey.pem}), whatever libvirtd.conf's
 * {@code ca_file}, {@code cert_file} and {@code key_file} say. The server is the admin URI's daemon: libvirtd, or
 * virtproxyd with modular daemons.
 */
final class LibvirtdTlsReload {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private LibvirtdTlsReload() {}

    /**
     * Why the daemon did not load the files.
     *
     * @param notListening the daemon serves no TLS port at all (virt-admin: "no tls service found")
     * @param detail       what virt-admin said, for the operator
     */
    record Refusal(boolean notListening, String detail) {}

    /** Asks the daemon of {@code adminUri} to reload; empty when it did. */
    static Optional<Refusal> reload(String adminUri) {
        String server;
        try {
            server = new URI(adminUri).getScheme();
        } catch (URISyntaxException e) {
            return Optional.of(new Refusal(false, "libvirt-admin-uri \"" + adminUri + "\" is not a URI: " + e.getMessage()));
        }
        if (server == null || !List.of("libvirtd", "virtproxyd").contains(server)) {
            return Optional.of(new Refusal(false, "libvirt-admin-uri \"" + adminUri + "\" names no daemon serving TLS;"
                    + " expected libvirtd:///system or virtproxyd:///system"));
        }
        Command command = Command.of("virt-admin", "-c", adminUri, "server-update-tls", server).timeout(TIMEOUT);
        try {
            Command.Result result = command.run();
            if (result.exitCode() != 0) {
                // virt-admin says what failed on several lines ("error: Unable to update ...", "error: Cannot read ...").
                String said = (result.stderr() + result.stdout()).strip().replaceAll("\\s*\\n\\s*", "; ");
                return Optional.of(new Refusal(said.contains("no tls service found"), command + " failed: " + said));
            }
            return Optional.empty();
        } catch (CommandException e) {
            return Optional.of(new Refusal(false, e.getMessage()));
        }
    }
}
