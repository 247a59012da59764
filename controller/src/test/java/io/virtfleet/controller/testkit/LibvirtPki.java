package io.virtfleet.controller.testkit;

import io.virtfleet.agent.AgentConfig;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * libvirt TLS certificates for simulated hypervisors, signed by a fleet CA the test made with
 * {@link CertificateAuthority}, written where the node and the agent read them: the libvirtd server's and QEMU's
 * files in the node directory ({@link LibvirtdNode#pkiDir}), the client's in the agent's
 * {@link AgentConfig#libvirtTlsDirectory}. The fleet's own issuance (controller to agent) replaces this in a fleet.
 *
 * <p>One key and certificate per host serve as libvirtd's server certificate, QEMU's (server on a target, client on
 * a source) and the agent's client certificate: subject {@code CN=<host>} (what the targets' tls_allowed_dn_list
 * admits, see {@link #distinguishedName}), the host's address as an IP subject alternative name (libvirt's client
 * and QEMU's both check the server's certificate against the address they dial). The key usage must allow key
 * encipherment besides signatures: libvirt 9.0 refuses a certificate whose critical key usage lacks it ("usage does
 * not permit key encipherment") although the key is ECDSA, so the fleet's gRPC certificates cannot serve as they are.
 */
public final class LibvirtPki {
    private static final Duration LIFETIME = Duration.ofDays(2);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final X509Certificate ca;
    private final PrivateKey caKey;

    private LibvirtPki(X509Certificate ca, PrivateKey caKey) {
        this.ca = ca;
        this.caKey = caKey;
    }

    /** The fleet CA in {@code caDir} (made there by {@link CertificateAuthority} when there is none). */
    public static LibvirtPki create(Path caDir) throws IOException {
        CertificateAuthority authority = CertificateAuthority.loadOrCreate(caDir, Clock.systemUTC());
        PrivateKey key = Pem.privateKey(Files.readString(caDir.resolve("ca.key"), StandardCharsets.US_ASCII));
        return new LibvirtPki(authority.certificate(), key);
    }

    /** What libvirt compares with tls_allowed_dn_list for a client certificate of {@code host}. */
    public static String distinguishedName(String host) {
        return "CN=" + host;
    }

    /** Writes the server side of {@code host} (libvirtd and QEMU) into the node directory {@code nodeDir}. */
    public void installServer(Path nodeDir, String host, String address) throws IOException {
        Issued issued = issue(host, address);
        Path pki = LibvirtdNode.pkiDir(nodeDir);
        Path qemu = pki.resolve("qemu");
        Files.createDirectories(qemu);
        write(pki.resolve("cacert.pem"), Pem.of(ca));
        write(pki.resolve("servercert.pem"), Pem.of(issued.certificate()));
        write(pki.resolve("serverkey.pem"), Pem.of(issued.keys().getPrivate()));
        write(qemu.resolve("ca-cert.pem"), Pem.of(ca));
        for (String role : new String[] {"server", "client"}) {
            write(qemu.resolve(role + "-cert.pem"), Pem.of(issued.certificate()));
            write(qemu.resolve(role + "-key.pem"), Pem.of(issued.keys().getPrivate()));
        }
    }

    /** Writes the client side of {@code host} (libvirt's flat pkipath layout) into {@code tlsDirectory}. */
    public void installClient(Path tlsDirectory, String host, String address) throws IOException {
        Issued issued = issue(host, address);
        Files.createDirectories(tlsDirectory);
        write(tlsDirectory.resolve("cacert.pem"), Pem.of(ca));
        write(tlsDirectory.resolve("clientcert.pem"), Pem.of(issued.certificate()));
        write(tlsDirectory.resolve("clientkey.pem"), Pem.of(issued.keys().getPrivate()));
    }

    private record Issued(KeyPair keys, X509Certificate certificate) {}

    private Issued issue(String host, String address) throws IOException {
        KeyPair keys = Keys.generate();
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, host).build();
        Instant now = Instant.now();
        try {
            GeneralNames names = new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.dNSName, host), new GeneralName(GeneralName.iPAddress, address)});
            X509Certificate certificate = new JcaX509CertificateConverter().getCertificate(
                    new JcaX509v3CertificateBuilder(ca, new BigInteger(127, RANDOM).add(BigInteger.ONE),
                            Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(LIFETIME)), subject,
                            keys.getPublic())
                            .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                            .addExtension(Extension.keyUsage, true,
                                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment))
                            .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                                    new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                            .addExtension(Extension.subjectAlternativeName, false, names)
                            .build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKey)));
            return new Issued(keys, certificate);
        } catch (GeneralSecurityException | OperatorCreationException | CertIOException e) {
            throw new IOException("cannot issue a libvirt certificate for " + host, e);
        }
    }

    private static void write(Path file, String pem) throws IOException {
        Files.writeString(file, pem, StandardCharsets.US_ASCII);
    }
}
