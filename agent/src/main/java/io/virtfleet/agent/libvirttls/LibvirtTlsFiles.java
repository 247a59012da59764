package io.virtfleet.agent.libvirttls;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.Pem;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The files of a host's libvirt TLS certificate, as {@link LibvirtTlsSettings} places them: certificates
 * {@code rw-r--r--}, keys {@code rw-------} (QEMU's {@code rw-r-----} of its group), each written through
 * {@link StateFiles} and only when its content or mode differs from what is there. Certificates are written before
 * keys, so that the directories they create are {@code rwxr-xr-x} (QEMU's user must reach its directory) while a
 * private directory only keys need, such as libvirt's {@code private/}, is made owner-only.
 */
public final class LibvirtTlsFiles {
    /** A key, its certificate and the CA that signed it, as installed. */
    public record Installed(PrivateKey key, X509Certificate certificate, X509Certificate ca) {}

    private enum Mode {
        CERTIFICATE("rw-r--r--"), KEY("rw-------"), QEMU_KEY("rw-r-----");

        final Set<PosixFilePermission> permissions;

        Mode(String permissions) {
            this.permissions = PosixFilePermissions.fromString(permissions);
        }
    }

    private record Target(Path path, Mode mode, byte[] content) {}

    private final LibvirtTlsSettings settings;

    public LibvirtTlsFiles(LibvirtTlsSettings settings) {
        this.settings = settings;
    }

    /**
     * What libvirtd's server files hold, when they hold a key, a certificate for that key and a CA; empty when any is
     * missing. A file that cannot be parsed counts as missing: installing replaces it.
     */
    public Optional<Installed> installed() throws IOException {
        for (Path p : List.of(settings.serverKey(), settings.serverCert(), settings.caFile())) {
            if (!Files.isRegularFile(p)) {
                return Optional.empty();
            }
        }
        String keyPem = Files.readString(settings.serverKey(), StandardCharsets.US_ASCII);
        String certificatePem = Files.readString(settings.serverCert(), StandardCharsets.US_ASCII);
        String caPem = Files.readString(settings.caFile(), StandardCharsets.US_ASCII);
        try {
            PrivateKey key = Pem.privateKey(keyPem);
            List<X509Certificate> certificate = Pem.certificates(certificatePem);
            List<X509Certificate> ca = Pem.certificates(caPem);
            if (certificate.size() != 1 || ca.size() != 1 || !matches(key, certificate.get(0))) {
                return Optional.empty();
            }
            return Optional.of(new Installed(key, certificate.get(0), ca.get(0)));
        } catch (IOException e) {
            return Optional.empty(); // not PEM of the expected kind: replaced by the next certificate
        }
    }

    /**
     * Writes every file for {@code installed}; a file whose content and mode are already right is left alone.
     *
     * @return the files written, in the order written (empty when all were right)
     */
    public List<Path> install(Installed installed) throws IOException {
        GroupPrincipal qemuGroup = settings.qemuGroup() == null ? null : qemuGroup();
        Mode qemuKey = qemuGroup == null ? Mode.KEY : Mode.QEMU_KEY;
        byte[] ca = Pem.of(installed.ca()).getBytes(StandardCharsets.US_ASCII);
        byte[] certificate = Pem.of(installed.certificate()).getBytes(StandardCharsets.US_ASCII);
        byte[] key = Pem.of(installed.key()).getBytes(StandardCharsets.US_ASCII);
        Path qemu = settings.qemuDirectory();
        List<Target> targets = List.of(
                // Certificates first: the directories they make are rwxr-xr-x.
                new Target(settings.caFile(), Mode.CERTIFICATE, ca),
                new Target(settings.serverCert(), Mode.CERTIFICATE, certificate),
                new Target(settings.clientCert(), Mode.CERTIFICATE, certificate),
                new Target(qemu.resolve("ca-cert.pem"), Mode.CERTIFICATE, ca),
                new Target(qemu.resolve("server-cert.pem"), Mode.CERTIFICATE, certificate),
                new Target(qemu.resolve("client-cert.pem"), Mode.CERTIFICATE, certificate),
                new Target(settings.pkiPath().resolve("cacert.pem"), Mode.CERTIFICATE, ca),
                new Target(settings.pkiPath().resolve("clientcert.pem"), Mode.CERTIFICATE, certificate),
                new Target(settings.serverKey(), Mode.KEY, key),
                new Target(settings.clientKey(), Mode.KEY, key),
                new Target(qemu.resolve("server-key.pem"), qemuKey, key),
                new Target(qemu.resolve("client-key.pem"), qemuKey, key),
                new Target(settings.pkiPath().resolve("clientkey.pem"), Mode.KEY, key));
        List<Path> written = new ArrayList<>();
        for (Target t : targets) {
            if (current(t, qemuGroup)) {
                continue;
            }
            switch (t.mode()) {
                case CERTIFICATE -> StateFiles.writeReadable(t.path(), t.content());
                case KEY -> StateFiles.writePrivate(t.path(), new String(t.content(), StandardCharsets.US_ASCII));
                case QEMU_KEY -> StateFiles.writeGroupReadable(t.path(), t.content(), qemuGroup);
            }
            written.add(t.path());
        }
        return written;
    }

    /** Whether any of {@code written} is a file libvirtd reads at start (its CA, certificate or key). */
    public boolean libvirtdReads(List<Path> written) {
        return written.contains(settings.caFile()) || written.contains(settings.serverCert())
                || written.contains(settings.serverKey());
    }

    private GroupPrincipal qemuGroup() throws IOException {
        try {
            return settings.qemuDirectory().getFileSystem().getUserPrincipalLookupService()
                    .lookupPrincipalByGroupName(settings.qemuGroup());
        } catch (UserPrincipalNotFoundException e) {
            throw new IOException("qemu-tls-group: group \"" + settings.qemuGroup() + "\" does not exist on this host;"
                    + " expected the group QEMU runs as (qemu.conf 'group', libvirt-qemu on Debian)", e);
        }
    }

    /** Whether the file already holds the content, with the mode (and for QEMU's keys, the group). */
    private static boolean current(Target t, GroupPrincipal qemuGroup) throws IOException {
        if (!Files.isRegularFile(t.path(), LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        PosixFileAttributes attributes = Files.readAttributes(t.path(), PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!attributes.permissions().equals(t.mode().permissions)
                || t.mode() == Mode.QEMU_KEY && !attributes.group().equals(qemuGroup)) {
            return false;
        }
        return Arrays.equals(Files.readAllBytes(t.path()), t.content());
    }

    /** Whether the certificate is for this key (an EC key, as the agent makes): a signature by one verifies with the other. */
    private static boolean matches(PrivateKey key, X509Certificate certificate) {
        if (!key.getAlgorithm().equals("EC")) {
            return false;
        }
        try {
            java.security.Signature sign = java.security.Signature.getInstance("SHA256withECDSA");
            byte[] probe = "virtfleet libvirt key check".getBytes(StandardCharsets.US_ASCII);
            sign.initSign(key);
            sign.update(probe);
            byte[] signature = sign.sign();
            sign.initVerify(certificate.getPublicKey());
            sign.update(probe);
            return sign.verify(signature);
        } catch (java.security.GeneralSecurityException e) {
            return false;
        }
    }
}
