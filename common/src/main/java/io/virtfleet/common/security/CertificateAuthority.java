package io.virtfleet.common.security;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.GeneralSubtree;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.NameConstraints;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;

/**
 * The fleet's certificate authority: one key pair, kept by the controller, that signs every certificate
 * in the fleet. Created on the controller's first start (or supplied by the operator as {@code ca.crt} +
 * {@code ca.key}); the key file is owner-only.
 */
public final class CertificateAuthority {
    static final String CERT_FILE = "ca.crt";
    static final String KEY_FILE = "ca.key";
    private static final Duration CA_LIFETIME = Duration.ofDays(3650);
    /** Tolerates clocks a little behind the controller's. */
    /** The fleet CA's common name: what browsers and certutil list it as. */
    public static final String FLEET_CA_NAME = "virtfleet fleet CA";
    private static final Duration BACKDATE = Duration.ofMinutes(5);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final KeyPair keys;
    private final X509Certificate certificate;
    private final Clock clock;

    private CertificateAuthority(KeyPair keys, X509Certificate certificate, Clock clock) {
        this.keys = keys;
        this.certificate = certificate;
        this.clock = clock;
    }

    /**
     * Loads the CA from {@code dir}, which must hold it: for tools that issue with an existing CA and must never
     * make a new one.
     */
    public static CertificateAuthority load(Path dir, Clock clock) throws IOException {
        for (String file : List.of(CERT_FILE, KEY_FILE)) {
            if (!Files.isReadable(dir.resolve(file))) {
                throw new IOException("no readable fleet CA in " + dir + ": " + dir.resolve(file) + " is missing or"
                        + " unreadable (run this as the controller's user, with its --data-dir)");
            }
        }
        return loadOrCreate(dir, clock);
    }

    /**
     * When a certificate of this CA was issued, to the second: its start of validity is set back by
     * {@link #BACKDATE} for clocks running behind.
     */
    public static Instant issuedAt(X509Certificate certificate) {
        return certificate.getNotBefore().toInstant().plus(BACKDATE).truncatedTo(ChronoUnit.SECONDS);
    }

    /** Loads the CA from {@code dir}, creating a new one there if there is none. */
    public static CertificateAuthority loadOrCreate(Path dir, Clock clock) throws IOException {
        Path cert = dir.resolve(CERT_FILE);
        Path key = dir.resolve(KEY_FILE);
        if (Files.exists(cert) || Files.exists(key)) {
            if (!Files.exists(cert) || !Files.exists(key)) {
                throw new IOException("incomplete CA in " + dir + ": need both " + CERT_FILE + " and " + KEY_FILE);
            }
            X509Certificate certificate = Pem.certificate(cert);
            PrivateKey privateKey = Pem.privateKey(Files.readString(key, java.nio.charset.StandardCharsets.US_ASCII));
            return new CertificateAuthority(new KeyPair(certificate.getPublicKey(), privateKey), certificate, clock);
        }
        KeyPair keys = Keys.generate();
        X500Name name = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, FLEET_CA_NAME).build();
        Instant now = clock.instant();
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(),
                    Date.from(now.minus(BACKDATE)), Date.from(now.plus(CA_LIFETIME)), name, keys.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            new JcaX509ExtensionUtils().createSubjectKeyIdentifier(keys.getPublic()));
            X509Certificate certificate = sign(builder, keys);
            StateFiles.writePrivate(key, Pem.of(keys.getPrivate()));
            StateFiles.writePrivate(cert, Pem.of(certificate));
            return new CertificateAuthority(keys, certificate, clock);
        } catch (GeneralSecurityException | CertIOException e) {
            throw new IOException("cannot create the fleet CA", e);
        }
    }

    /**
     * A new CA, in memory (see {@link #save}), that may vouch only for {@code names} and the DNS names under them: for
     * a web server's certificates (the dashboard's), so that a browser importing it as an authority trusts it for
     * nothing else. Its certificate carries a critical name constraints extension (RFC 5280, 4.2.1.10), which browsers
     * enforce on an imported authority: each DNS name is a permitted subtree, each IP address is permitted alone (a
     * full-length mask). A kind of name the list lacks is shut as well, since a constraint binds only the kinds it
     * names: without an IP address every IPv4 and IPv6 address is excluded, and without a DNS name only the reserved
     * domain {@code invalid} (RFC 6761), which no real name is under, is permitted. Server use only.
     *
     * @param names DNS names (lowercase) and IP literals in canonical form, as {@link #constrainedTo} compares them
     */
    public static CertificateAuthority nameConstrained(String commonName, List<String> names, Duration lifetime,
                                                       Clock clock) throws GeneralSecurityException {
        KeyPair keys = Keys.generate();
        X500Name name = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, commonName).build();
        Instant now = clock.instant();
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(),
                    Date.from(now.minus(BACKDATE)), Date.from(now.plus(lifetime)), name, keys.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.nameConstraints, true, nameConstraints(names))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            new JcaX509ExtensionUtils().createSubjectKeyIdentifier(keys.getPublic()));
            return new CertificateAuthority(keys, sign(builder, keys), clock);
        } catch (CertIOException e) {
            throw new GeneralSecurityException("cannot build the CA " + commonName, e);
        }
    }

    /**
     * Whether {@code ca} is a {@link #nameConstrained} CA for exactly {@code names} (in any order): false for a CA
     * without constraints, and for one made for other names, which would not vouch for a name added since.
     */
    public static boolean constrainedTo(X509Certificate ca, List<String> names) {
        byte[] value = ca.getExtensionValue(Extension.nameConstraints.getId());
        if (value == null) {
            return false;
        }
        try {
            NameConstraints present = NameConstraints.getInstance(JcaX509ExtensionUtils.parseExtensionValue(value));
            return present.toASN1Primitive().equals(nameConstraints(names).toASN1Primitive());
        } catch (IOException | IllegalArgumentException e) {
            return false;
        }
    }

    private static NameConstraints nameConstraints(List<String> names) {
        SortedSet<String> dns = new TreeSet<>();
        SortedSet<String> ips = new TreeSet<>();
        for (String n : names) {
            (ipLiteral(n) ? ips : dns).add(n);
        }
        if (dns.isEmpty() && ips.isEmpty()) {
            throw new IllegalArgumentException("a name-constrained CA needs at least one name");
        }
        List<GeneralSubtree> permitted = new ArrayList<>();
        List<GeneralSubtree> excluded = new ArrayList<>();
        if (dns.isEmpty()) {
            permitted.add(new GeneralSubtree(new GeneralName(GeneralName.dNSName, "invalid")));
        }
        for (String d : dns) {
            permitted.add(new GeneralSubtree(new GeneralName(GeneralName.dNSName, d)));
        }
        if (ips.isEmpty()) {
            // Address and mask all zero: every IPv4 address, then every IPv6 one.
            excluded.add(new GeneralSubtree(new GeneralName(GeneralName.iPAddress, new DEROctetString(new byte[8]))));
            excluded.add(new GeneralSubtree(new GeneralName(GeneralName.iPAddress, new DEROctetString(new byte[32]))));
        }
        for (String ip : ips) {
            byte[] address = ipBytes(ip);
            byte[] subtree = Arrays.copyOf(address, address.length * 2);
            Arrays.fill(subtree, address.length, subtree.length, (byte) 0xff); // this address alone
            permitted.add(new GeneralSubtree(new GeneralName(GeneralName.iPAddress, new DEROctetString(subtree))));
        }
        return new NameConstraints(permitted.toArray(GeneralSubtree[]::new),
                excluded.isEmpty() ? null : excluded.toArray(GeneralSubtree[]::new));
    }

    /** The bytes of an IP literal (4 or 16); parsed, never looked up. */
    private static byte[] ipBytes(String literal) {
        try {
            return InetAddress.getByName(literal).getAddress(); // digits, dots and colons only: no lookup
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IP address: " + literal, e);
        }
    }

    /** An IP literal rather than a DNS name: digits and dots only, or any colon. */
    private static boolean ipLiteral(String name) {
        return name.matches("[0-9.]+|.*:.*");
    }

    /**
     * A CA from a key and certificate kept elsewhere ({@link #save}), once they are shown to belong together.
     *
     * @throws GeneralSecurityException the key is not the certificate's, or the certificate is no CA's
     */
    public static CertificateAuthority of(PrivateKey key, X509Certificate certificate, Clock clock)
            throws GeneralSecurityException {
        if (certificate.getBasicConstraints() < 0) {
            throw new GeneralSecurityException("the certificate of " + certificate.getSubjectX500Principal()
                    + " is not a CA's");
        }
        if (!Keys.matches(key, certificate.getPublicKey())) {
            throw new GeneralSecurityException("the private key is not the one of " + certificate.getSubjectX500Principal());
        }
        return new CertificateAuthority(new KeyPair(certificate.getPublicKey(), key), certificate, clock);
    }

    /** Writes this CA to {@code dir} as {@code ca.key} and {@code ca.crt}, both owner-only; the key first. */
    public void save(Path dir) throws IOException {
        StateFiles.writePrivate(dir.resolve(KEY_FILE), Pem.of(keys.getPrivate()));
        StateFiles.writePrivate(dir.resolve(CERT_FILE), Pem.of(certificate));
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /** SHA-256 of the CA certificate, lowercase hex: what a joining agent pins before it trusts anything. */
    public String fingerprint() {
        return fingerprint(certificate);
    }

    public static String fingerprint(X509Certificate certificate) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Signs a certificate for {@code identity} over the key in {@code request}, after checking the request
     * is signed by that key. The identity comes from the caller, never from the request's subject.
     */
    public X509Certificate issue(PKCS10CertificationRequest request, FleetIdentity identity, Duration lifetime,
                                 List<String> extraDnsNames) throws GeneralSecurityException {
        return issue(verifiedKey(request), identity, lifetime, extraDnsNames);
    }

    /**
     * The key a signing request is for, once the request is shown to be signed by that key (the requester
     * holds the private key). Servers check this before acting on a request at all.
     */
    public static PublicKey verifiedKey(PKCS10CertificationRequest request) throws GeneralSecurityException {
        try {
            PublicKey key = new JcaPKCS10CertificationRequest(request).getPublicKey();
            if (!request.isSignatureValid(new JcaContentVerifierProviderBuilder().build(key))) {
                throw new GeneralSecurityException("the signing request is not signed by its own key");
            }
            return key;
        } catch (OperatorCreationException | PKCSException e) {
            throw new GeneralSecurityException("unusable signing request: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // BouncyCastle decodes lazily and reports some malformed structures only now, unchecked
            // (e.g. a BIT STRING with unused bits: IllegalStateException).
            throw new GeneralSecurityException("malformed signing request: " + e.getMessage(), e);
        }
    }

    /** Signs a certificate for a key this process made itself (the controller's own). */
    public X509Certificate issue(PublicKey key, FleetIdentity identity, Duration lifetime, List<String> extraDnsNames)
            throws GeneralSecurityException {
        return issue(key, identity, lifetime, extraDnsNames, clock.instant());
    }

    /**
     * Signs a certificate as issued at {@code issuedAt} (see {@link #issuedAt(X509Certificate)}), which may be up to a
     * second ahead of now: how a certificate is made to count as issued after a revocation in the same second.
     */
    public X509Certificate issue(PublicKey key, FleetIdentity identity, Duration lifetime, List<String> extraDnsNames,
                                 Instant issuedAt) throws GeneralSecurityException {
        Instant now = issuedAt;
        List<GeneralName> names = new ArrayList<>();
        names.add(new GeneralName(GeneralName.uniformResourceIdentifier, identity.uri()));
        names.add(new GeneralName(GeneralName.dNSName, identity.dnsName()));
        for (String dns : extraDnsNames) {
            names.add(new GeneralName(dns.matches("[0-9.]+|.*:.*") ? GeneralName.iPAddress : GeneralName.dNSName, dns));
        }
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, identity.name()).build();
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate, serial(),
                    Date.from(now.minus(BACKDATE)), Date.from(now.plus(lifetime)), subject, key)
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                    .addExtension(Extension.subjectAlternativeName, false,
                            new GeneralNames(names.toArray(GeneralName[]::new)))
                    .addExtension(Extension.authorityKeyIdentifier, false,
                            new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(certificate));
            return sign(builder, keys);
        } catch (CertIOException e) {
            throw new GeneralSecurityException("cannot build certificate for " + identity, e);
        }
    }

    /**
     * Signs a web server's certificate (the dashboard's) for a key this process made: the names browsers reach it by
     * and nothing else. No fleet identity and server use only, so a leak of this key, on a port that may face more
     * networks than the fleet's, never lets its holder act as the controller towards the agents or as any fleet
     * member: their TLS refuses a client certificate without client use, and their rules one without an identity.
     */
    public X509Certificate issueWebServer(PublicKey key, String commonName, List<String> names, Duration lifetime)
            throws GeneralSecurityException {
        if (names.isEmpty()) {
            throw new GeneralSecurityException("a web server certificate needs the names browsers reach it by");
        }
        Instant now = clock.instant();
        List<GeneralName> alternatives = new ArrayList<>();
        for (String dns : names) {
            alternatives.add(new GeneralName(ipLiteral(dns) ? GeneralName.iPAddress : GeneralName.dNSName, dns));
        }
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, commonName).build();
        // Never past this CA's own end: a browser would refuse the rest of its life anyway.
        Instant notAfter = Collections.min(List.of(now.plus(lifetime), certificate.getNotAfter().toInstant()));
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate, serial(),
                    Date.from(now.minus(BACKDATE)), Date.from(notAfter), subject, key)
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
                    .addExtension(Extension.subjectAlternativeName, false,
                            new GeneralNames(alternatives.toArray(GeneralName[]::new)))
                    .addExtension(Extension.authorityKeyIdentifier, false,
                            new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(certificate));
            return sign(builder, keys);
        } catch (CertIOException e) {
            throw new GeneralSecurityException("cannot build the web server certificate " + commonName, e);
        }
    }

    /**
     * Signs the libvirt TLS certificate of {@code host} (see {@link LibvirtCertificate}) for the key in {@code request},
     * after checking the request is signed by that key. Host and address come from the caller, never from the request.
     * Usable as TLS server and client: libvirtd and QEMU are both on each side of a migration. The key usage includes
     * key encipherment although an EC key never enciphers: libvirt and QEMU refuse a certificate whose critical key
     * usage lacks it.
     */
    public X509Certificate issueLibvirt(PKCS10CertificationRequest request, String host, Ipv4 address, Duration lifetime)
            throws GeneralSecurityException {
        PublicKey key = verifiedKey(request);
        Instant now = clock.instant();
        GeneralName[] names = {
            new GeneralName(GeneralName.dNSName, Names.hostName("host", host)),
            new GeneralName(GeneralName.iPAddress, address.toString())};
        try {
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate, serial(),
                    Date.from(now.minus(BACKDATE)), Date.from(now.plus(lifetime)), LibvirtCertificate.subject(host), key)
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true,
                            new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                    .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            new JcaX509ExtensionUtils().createSubjectKeyIdentifier(key))
                    .addExtension(Extension.authorityKeyIdentifier, false,
                            new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(certificate));
            return sign(builder, keys);
        } catch (CertIOException e) {
            throw new GeneralSecurityException("cannot build the libvirt certificate of " + host, e);
        }
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, KeyPair signer) throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder(Keys.SIGNATURE).build(signer.getPrivate())));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign", e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM).add(BigInteger.ONE);
    }
}
