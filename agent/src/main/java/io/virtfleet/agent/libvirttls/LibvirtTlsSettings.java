package io.virtfleet.agent.libvirttls;

import java.nio.file.Path;

/**
 * Where the agent installs its host's fleet-issued libvirt TLS certificate (see
 * {@link io.virtfleet.common.security.LibvirtCertificate}) and who must read it. One key and certificate serve every
 * role: libvirtd's server, libvirt clients on the host, QEMU's migration streams (both ends), and the agent's own
 * connections to other hosts' libvirtd.
 *
 * @param caFile        the fleet CA: libvirtd's {@code ca_file} and libvirt clients' default CA
 * @param serverCert    libvirtd's {@code cert_file}
 * @param serverKey     libvirtd's {@code key_file} (owner-only)
 * @param clientCert    what libvirt clients on the host present by default: libvirtd's own peer-to-peer migration
 *                      connections, an operator's virsh
 * @param clientKey     its key (owner-only)
 * @param qemuDirectory QEMU's TLS directory (qemu.conf {@code migrate_tls_x509_cert_dir}, by default its
 *                      {@code default_tls_x509_cert_dir}): ca-cert.pem, server-cert.pem, server-key.pem,
 *                      client-cert.pem, client-key.pem; QEMU is client on the source and server on the target
 * @param qemuGroup     group QEMU runs as (qemu.conf {@code group}): QEMU opens its keys itself, so they are
 *                      {@code rw-r-----} of this group; null when QEMU runs as the agent's user (they are then
 *                      owner-only, as every other key)
 * @param pkiPath       the agent's own client files in libvirt's flat {@code pkipath} layout (cacert.pem,
 *                      clientcert.pem, clientkey.pem), for {@code qemu+tls://HOST/system?pkipath=DIR}
 * @param adminUri      libvirt admin URI of the daemon that listens on TLS (libvirtd:///system, or virtproxyd:///system
 *                      with modular daemons), told to load new server files; null when there is none to tell
 */
public record LibvirtTlsSettings(Path caFile, Path serverCert, Path serverKey, Path clientCert, Path clientKey,
                                 Path qemuDirectory, String qemuGroup, Path pkiPath, String adminUri) {
    /** The directory of {@link #pkiPath} in the agent's state directory. */
    public static final String PKI_PATH = "libvirt-tls";

    private static final java.util.regex.Pattern GROUP = java.util.regex.Pattern.compile("[a-z_][a-z0-9_-]{0,31}");

    /** A group name as Debian's adduser accepts it; throws naming the field otherwise. */
    public static String checkGroup(String field, String group) {
        if (!GROUP.matcher(group).matches()) {
            throw new io.virtfleet.common.validation.InvalidInputException(field, group,
                    "a group name (lowercase letters, digits, '_' and '-', at most 32), e.g. libvirt-qemu");
        }
        return group;
    }

    /** An admin URI of a daemon that serves libvirt's TLS port; throws naming the field otherwise. */
    public static String checkAdminUri(String field, String uri) {
        String accepted = "libvirtd:///system or virtproxyd:///system (with an optional ?socket=PATH), or none";
        try {
            String scheme = new java.net.URI(uri).getScheme();
            if (scheme != null && java.util.List.of("libvirtd", "virtproxyd").contains(scheme)) {
                return uri;
            }
        } catch (java.net.URISyntaxException e) {
            // refused below
        }
        throw new io.virtfleet.common.validation.InvalidInputException(field, uri, accepted);
    }

    /**
     * Every file inside the state directory and no daemon told: what an agent gets when its configuration does not say
     * (tests, the embedded fleet), so that it never writes outside its own directory.
     */
    public static LibvirtTlsSettings inside(Path stateDirectory) {
        Path host = stateDirectory.resolve("libvirt-host-tls");
        return new LibvirtTlsSettings(host.resolve("CA/cacert.pem"), host.resolve("libvirt/servercert.pem"),
                host.resolve("libvirt/private/serverkey.pem"), host.resolve("libvirt/clientcert.pem"),
                host.resolve("libvirt/private/clientkey.pem"), host.resolve("qemu"), null,
                stateDirectory.resolve(PKI_PATH), null);
    }
}
