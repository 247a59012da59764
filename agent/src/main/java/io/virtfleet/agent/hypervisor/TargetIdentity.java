package io.virtfleet.agent.hypervisor;

import io.virtfleet.agent.hypervisor.MigrationException.Kind;
import io.virtfleet.common.security.Pem;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;

/**
 * Which fleet host a libvirtd is, by the certificate it presents on its TLS port. libvirt's own client checks only
 * that the target's certificate comes from the fleet CA and names the address dialled, so a stale address for the
 * target (another host got it) would move the VM to a host its record does not name. Before a migration, the agent
 * therefore makes one TLS handshake of its own to the target's libvirtd, as libvirt's client would (this host's
 * fleet-issued client certificate, the fleet CA), and compares the certificate's CN with the target's host name.
 * Blocking and bounded: run it on a migration's worker, never on a gRPC event loop.
 */
public final class TargetIdentity {
    /** libvirtd's TLS port (the {@code qemu+tls://ADDRESS/system} URIs name no other). */
    public static final int LIBVIRT_TLS_PORT = 16514;
    /** How long connecting, and then the handshake, may each take. */
    public static final Duration TIMEOUT = Duration.ofSeconds(10);

    private TargetIdentity() {}

    /**
     * Refuses a target whose libvirtd does not present {@code targetHost}'s certificate: FAILED_PRECONDITION naming the
     * expected and the presented names (or the distrust), UNAVAILABLE when the libvirtd cannot be reached.
     *
     * @param tlsDirectory this host's libvirt TLS client files ({@link Migrations#CLIENT_FILES})
     */
    public static void check(Path tlsDirectory, String vm, String targetHost, InetSocketAddress libvirtd, Duration timeout) {
        String at = targetHost + "'s libvirtd at " + libvirtd.getHostString() + ":" + libvirtd.getPort();
        SSLContext context;
        try {
            context = clientContext(tlsDirectory);
        } catch (IOException | GeneralSecurityException e) {
            throw new MigrationException(Kind.FAILED_PRECONDITION, "cannot migrate " + vm + ": this host's libvirt TLS"
                    + " client files in " + tlsDirectory + " are unusable: " + e.getMessage());
        }
        Optional<String> presented;
        try {
            presented = presentedHost(context, libvirtd, timeout);
        } catch (SSLException e) {
            throw new MigrationException(Kind.FAILED_PRECONDITION, "cannot migrate " + vm + ": " + at + " and this host"
                    + " do not trust each other's fleet-issued libvirt certificates: " + e.getMessage());
        } catch (IOException e) {
            throw new MigrationException(Kind.UNAVAILABLE, "cannot migrate " + vm + ": " + at + " is not reachable: "
                    + e.getMessage());
        }
        if (!presented.equals(Optional.of(targetHost))) {
            throw new MigrationException(Kind.FAILED_PRECONDITION, "refusing to migrate " + vm + " to " + targetHost
                    + ": the libvirtd at " + libvirtd.getHostString() + ":" + libvirtd.getPort() + " presents "
                    + presented.map(h -> "the certificate of " + h + " (CN=" + h + ")").orElse("a certificate naming no host")
                    + ", not " + targetHost + "'s; the address the controller has for " + targetHost
                    + " may be another host's (see virtfleet host show " + targetHost + ")");
        }
    }

    /**
     * The CN of the certificate the TLS server at {@code address} presents, once the handshake ({@code context}: this
     * host's client certificate, the fleet CA) succeeded; empty when it names none.
     *
     * @throws SSLException the server's certificate is not the fleet CA's, or the server refused this host's
     */
    static Optional<String> presentedHost(SSLContext context, InetSocketAddress address, Duration timeout)
            throws IOException {
        int millis = (int) Math.max(1, timeout.toMillis());
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket()) {
            socket.connect(address, millis);
            socket.setSoTimeout(millis);
            socket.startHandshake();
            Certificate[] chain = socket.getSession().getPeerCertificates();
            return commonName((X509Certificate) chain[0]);
        }
    }

    /** The last CN of the certificate's subject (fleet libvirt certificates: O=virtfleet, OU=libvirt, CN=host). */
    static Optional<String> commonName(X509Certificate certificate) {
        RDN[] cns = X500Name.getInstance(certificate.getSubjectX500Principal().getEncoded()).getRDNs(BCStyle.CN);
        if (cns.length == 0 || cns[cns.length - 1].isMultiValued()) {
            return Optional.empty();
        }
        return Optional.of(IETFUtils.valueToString(cns[cns.length - 1].getFirst().getValue()));
    }

    private static SSLContext clientContext(Path dir) throws IOException, GeneralSecurityException {
        List<X509Certificate> cas = Pem.certificates(read(dir.resolve("cacert.pem")));
        List<X509Certificate> chain = Pem.certificates(read(dir.resolve("clientcert.pem")));
        PrivateKey key = Pem.privateKey(read(dir.resolve("clientkey.pem")));
        if (cas.isEmpty() || chain.isEmpty()) {
            throw new GeneralSecurityException("cacert.pem or clientcert.pem holds no certificate");
        }
        char[] password = new char[0];
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("client", key, password, chain.toArray(X509Certificate[]::new));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, password);
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        for (int i = 0; i < cas.size(); i++) {
            trusted.setCertificateEntry("fleet-ca-" + i, cas.get(i));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return context;
    }

    private static String read(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.US_ASCII);
    }
}
