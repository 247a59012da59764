package io.virtfleet.agent.enrollment;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.proto.v1.CertificateResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The agent's key, certificate and fleet CA, kept together in one owner-only file of its state directory
 * ({@code agent.pem}) so a crash can never leave a key next to another key's certificate.
 */
public final class AgentCredentials {
    static final String FILE = "agent.pem";

    private AgentCredentials() {}

    /** A freshly issued key and certificate, as stored. */
    public record Issued(PrivateKey key, X509Certificate certificate, X509Certificate ca) {
        public TlsCredentials credentials() {
            return new TlsCredentials(key, certificate, ca);
        }
    }

    /** The stored credentials if there are any, checked to name this host. */
    public static Optional<TlsCredentials> load(Path stateDir, String hostName) throws IOException {
        Path file = stateDir.resolve(FILE);
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        TlsCredentials stored = CredentialsBundle.read(file);
        FleetIdentity expected = FleetIdentity.agent(hostName);
        FleetIdentity actual = stored.identity();
        if (!expected.equals(actual)) {
            throw new IOException(file + " holds the certificate of " + actual + ", but this agent is "
                    + expected + "; remove it to enroll again under the new name");
        }
        return Optional.of(stored);
    }

    public static boolean expired(TlsCredentials credentials, Instant now) {
        return !now.isBefore(credentials.notAfter());
    }

    /**
     * Checks a certificate the controller sent against the key we asked for and the CA we trust, then
     * stores all three.
     */
    static Issued store(Path stateDir, KeyPair keys, CertificateResponse response, String expectedCaFingerprint,
                                String hostName) throws IOException {
        List<X509Certificate> certs = Pem.certificates(response.getCertificatePem());
        List<X509Certificate> cas = Pem.certificates(response.getCaPem());
        if (certs.size() != 1 || cas.size() != 1) {
            throw new IOException("controller sent " + certs.size() + " certificates and " + cas.size() + " CAs, expected one each");
        }
        X509Certificate cert = certs.get(0);
        X509Certificate ca = cas.get(0);
        if (!CertificateAuthority.fingerprint(ca).equals(expectedCaFingerprint)) {
            throw new IOException("controller sent a CA whose fingerprint is not the one this agent trusts");
        }
        if (!cert.getPublicKey().equals(keys.getPublic())) {
            throw new IOException("controller sent a certificate for another key");
        }
        if (!FleetIdentity.agent(hostName).equals(FleetIdentity.of(cert).orElse(null))) {
            throw new IOException("controller sent a certificate for " + FleetIdentity.of(cert).orElse(null));
        }
        try {
            cert.verify(ca.getPublicKey());
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("certificate is not signed by the fleet CA", e);
        }
        CredentialsBundle.write(stateDir.resolve(FILE), keys.getPrivate(), cert, ca);
        return new Issued(keys.getPrivate(), cert, ca);
    }
}
