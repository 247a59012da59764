package io.virtfleet.controller.dashboard;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The certificate the dashboard shows browsers, from one of two sources: the operator's own (a site PKI or ACME:
 * {@code dashboard-tls-cert} and {@code dashboard-tls-key}, read at start; a renewed pair is served after a restart),
 * or one issued to a key made in memory by the {@link DashboardAuthority dashboard CA} and re-issued by itself before
 * it ends. Never the fleet CA's.
 */
public final class DashboardCertificate {
    private static final Logger log = LoggerFactory.getLogger(DashboardCertificate.class);
    public static final String CERT_SETTING = "dashboard-tls-cert";
    public static final String KEY_SETTING = "dashboard-tls-key";
    /** An operator's certificate this close to its end is warned about at each check. */
    private static final Duration WARN_BEFORE_END = Duration.ofDays(14);

    private final TlsCredentials tls;
    /** The dashboard CA that issues it; null for the operator's own. */
    private final CertificateAuthority authority;
    private final List<String> names;
    private final Duration lifetime;
    private final Clock clock;
    /** When the end of the operator's certificate, or of the dashboard CA, was last warned about (once a day). */
    private Instant warned;
    private volatile PrivateKey key;

    private DashboardCertificate(TlsCredentials tls, PrivateKey key, CertificateAuthority authority, List<String> names,
                                 Duration lifetime, Clock clock) {
        this.tls = tls;
        this.key = key;
        this.authority = authority;
        this.names = names;
        this.lifetime = lifetime;
        this.clock = clock;
    }

    /** The certificate {@code settings} ask for: the operator's own files if set, else one of the dashboard CA. */
    public static DashboardCertificate forSettings(DashboardSettings settings, Path dataDir, Duration lifetime, Clock clock)
            throws IOException {
        if (settings.ownCertificate()) {
            DashboardCertificate own = own(settings.tlsCertificate(), settings.tlsKey(), settings.names(), clock);
            describeOwn(own.certificate(), settings.tlsCertificate(), settings.tlsKey(), settings.names());
            return own;
        }
        return issued(DashboardAuthority.open(dataDir, settings.names(), lifetime, clock), settings.names(), lifetime, clock);
    }

    /** A certificate of {@code authority} for {@code names}, to a key made now. */
    static DashboardCertificate issued(CertificateAuthority authority, List<String> names, Duration lifetime, Clock clock)
            throws IOException {
        KeyPair keys = Keys.generate();
        TlsCredentials tls = TlsCredentials.webServer(keys.getPrivate(),
                List.of(issue(authority, keys, names, lifetime), authority.certificate()));
        return new DashboardCertificate(tls, keys.getPrivate(), authority, names, lifetime, clock);
    }

    /**
     * The operator's certificate (PEM, the server's first, then any intermediates) and its private key (PEM,
     * PKCS#8 or traditional, unencrypted), checked before anything is served: both readable, the key the
     * certificate's, the certificate valid now and for server use. Logs nothing: the controller checks the files
     * once before it starts anything, and {@link #forSettings} again, with a word in the log, when the dashboard starts.
     *
     * @throws InvalidInputException naming the setting and the file at fault, and what it should be
     */
    public static DashboardCertificate own(Path certFile, Path keyFile, List<String> names, Clock clock) {
        List<X509Certificate> chain = readChain(certFile);
        PrivateKey key = readKey(keyFile);
        X509Certificate leaf = chain.get(0);
        if (leaf.getBasicConstraints() >= 0) {
            throw new InvalidInputException(CERT_SETTING, certFile.toString(), "the web server's own certificate first;"
                    + " the first one in this file is a CA's (" + leaf.getSubjectX500Principal() + ")");
        }
        if (!Keys.matches(key, leaf.getPublicKey())) {
            throw new InvalidInputException(KEY_SETTING, keyFile.toString(), "the private key of the certificate in "
                    + CERT_SETTING + " (" + certFile + "); this key is another one (a " + key.getAlgorithm()
                    + " key; the certificate's is " + leaf.getPublicKey().getAlgorithm() + ")");
        }
        Date now = Date.from(clock.instant());
        try {
            leaf.checkValidity(now);
        } catch (CertificateExpiredException e) {
            throw new InvalidInputException(CERT_SETTING, certFile.toString(), "a certificate valid now; this one ended on "
                    + leaf.getNotAfter().toInstant() + " (renew it, then restart the controller)");
        } catch (CertificateNotYetValidException e) {
            throw new InvalidInputException(CERT_SETTING, certFile.toString(), "a certificate valid now; this one starts"
                    + " on " + leaf.getNotBefore().toInstant() + " (is this machine's clock right?)");
        }
        try {
            List<String> uses = leaf.getExtendedKeyUsage();
            if (uses != null && !uses.contains("1.3.6.1.5.5.7.3.1") && !uses.contains("2.5.29.37.0")) {
                throw new InvalidInputException(CERT_SETTING, certFile.toString(), "a certificate for TLS servers"
                        + " (extended key usage serverAuth); this one is for " + uses);
            }
        } catch (CertificateParsingException e) {
            throw new InvalidInputException(CERT_SETTING, certFile.toString(), "a well-formed certificate: "
                    + e.getMessage());
        }
        checkOrder(chain, certFile);
        TlsCredentials tls;
        try {
            tls = TlsCredentials.webServer(key, chain);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(CERT_SETTING, certFile.toString(), "a web server's certificate: "
                    + e.getMessage());
        }
        return new DashboardCertificate(tls, key, null, names, Duration.ZERO, clock);
    }

    /**
     * Each certificate of the file signed by the next one (its issuer the next one's subject, its signature the next
     * one's key's): the order browsers build the chain in. A fullchain file out of order, or with an intermediate of
     * another chain, would start and fail in every browser.
     */
    private static void checkOrder(List<X509Certificate> chain, Path certFile) {
        for (int i = 0; i + 1 < chain.size(); i++) {
            X509Certificate cert = chain.get(i);
            X509Certificate next = chain.get(i + 1);
            String where = "certificate " + (i + 1) + " of " + chain.size() + " (" + cert.getSubjectX500Principal()
                    + ") is issued by " + cert.getIssuerX500Principal() + ", but certificate " + (i + 2) + " is ";
            if (!cert.getIssuerX500Principal().equals(next.getSubjectX500Principal())) {
                throw new InvalidInputException(CERT_SETTING, certFile.toString(), "the dashboard's certificate, then"
                        + " each intermediate in order, each signed by the next; " + where + next.getSubjectX500Principal());
            }
            try {
                cert.verify(next.getPublicKey());
            } catch (GeneralSecurityException e) {
                throw new InvalidInputException(CERT_SETTING, certFile.toString(), "the dashboard's certificate, then"
                        + " each intermediate in order, each signed by the next; " + where + "another CA of that name,"
                        + " whose key did not sign it (" + e.getMessage() + ")");
            }
        }
    }

    /** Says in the log what the operator's certificate serves, and what looks wrong with it without stopping it. */
    private static void describeOwn(X509Certificate leaf, Path certFile, Path keyFile, List<String> names) {
        for (String name : names) {
            if (!WebNames.covers(leaf, name)) {
                log.warn("{} ({}) does not name {}, one of dashboard-names: browsers opening the dashboard by it will"
                        + " refuse the certificate", CERT_SETTING, certFile, name);
            }
        }
        if (worldReadable(keyFile)) {
            log.warn("{} ({}) can be read by every user of this machine; make it readable by the controller's user"
                    + " only (chmod 600)", KEY_SETTING, keyFile);
        }
        log.info("the dashboard serves the certificate in {} ({}, valid until {}); a renewed one is served after a"
                + " restart of the controller", CERT_SETTING, certFile, leaf.getNotAfter().toInstant());
    }

    private static List<X509Certificate> readChain(Path file) {
        String text = read(CERT_SETTING, file, "a PEM file with the dashboard's certificate");
        List<X509Certificate> chain;
        try {
            chain = Pem.certificates(text);
        } catch (IOException e) {
            throw new InvalidInputException(CERT_SETTING, file.toString(), "PEM certificates (-----BEGIN CERTIFICATE-----),"
                    + " the dashboard's first: " + e.getMessage());
        }
        if (chain.isEmpty()) {
            throw new InvalidInputException(CERT_SETTING, file.toString(), "PEM certificates (-----BEGIN CERTIFICATE-----),"
                    + " the dashboard's first; this file holds none");
        }
        return new ArrayList<>(chain);
    }

    private static PrivateKey readKey(Path file) {
        String text = read(KEY_SETTING, file, "a PEM file with the private key of the certificate in " + CERT_SETTING);
        try {
            return Pem.privateKey(text);
        } catch (IOException | RuntimeException e) {
            throw new InvalidInputException(KEY_SETTING, file.toString(), "an unencrypted PEM private key (-----BEGIN"
                    + " PRIVATE KEY----- or -----BEGIN EC/RSA PRIVATE KEY-----): " + e.getMessage());
        }
    }

    private static String read(String setting, Path file, String what) {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new InvalidInputException(setting, file.toString(), what + "; there is no such file");
        } catch (AccessDeniedException e) {
            throw new InvalidInputException(setting, file.toString(), what + ", readable by the controller's user ("
                    + System.getProperty("user.name") + "); permission denied");
        } catch (IOException e) {
            throw new InvalidInputException(setting, file.toString(), what + "; cannot read it: " + e);
        }
    }

    private static boolean worldReadable(Path file) {
        try {
            return Files.getPosixFilePermissions(file).contains(PosixFilePermission.OTHERS_READ);
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static X509Certificate issue(CertificateAuthority authority, KeyPair keys, List<String> names,
                                         Duration lifetime) throws IOException {
        try {
            // Server use and the dashboard's names only: never a controller identity (see issueWebServer).
            return authority.issueWebServer(keys.getPublic(), "virtfleet dashboard", names, lifetime);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot issue the dashboard's certificate", e);
        }
    }

    /**
     * Re-issues a dashboard CA's certificate when a third of its life or less is left (new connections get it); for
     * the operator's own, warns in the log once a day from two weeks before its end, since only a restart reads a renewed
     * one. Called from one thread (the dashboard's sampler).
     */
    void renewIfDue() throws IOException {
        Instant now = clock.instant();
        if (authority == null) {
            if (now.isAfter(tls.notAfter().minus(WARN_BEFORE_END))
                    && (warned == null || !now.isBefore(warned.plus(Duration.ofDays(1))))) {
                warned = now;
                log.warn("the dashboard's certificate ({}) {} on {}: renew it and restart the controller",
                        CERT_SETTING, now.isAfter(tls.notAfter()) ? "ended" : "ends", tls.notAfter());
            }
            return;
        }
        Instant caEnd = authority.certificate().getNotAfter().toInstant();
        if (now.isAfter(caEnd.minus(lifetime))
                && (warned == null || !now.isBefore(warned.plus(Duration.ofDays(1))))) {
            // The CA is replaced only at a start: until then its certificates are cut to its end, then end with it.
            warned = now;
            log.error("the dashboard CA ends on {}, within a dashboard certificate's lifetime: restart the controller to"
                    + " make a new one (then import it into browsers: virtfleet dashboard --save-ca FILE)", caEnd);
        }
        if (now.isBefore(tls.notAfter().minus(lifetime.dividedBy(3)))) {
            return;
        }
        KeyPair keys = Keys.generate();
        tls.update(keys.getPrivate(), issue(authority, keys, names, lifetime));
        key = keys.getPrivate();
        log.info("renewed the dashboard's certificate; valid until {}", tls.notAfter());
    }

    TlsCredentials tls() {
        return tls;
    }

    /** The private key of {@link #certificate()} (tests: what a thief of the dashboard's key would hold). */
    PrivateKey key() {
        return key;
    }

    /** The dashboard CA operators import into their browsers; null when the operator's own certificate is served. */
    public X509Certificate authority() {
        return authority == null ? null : authority.certificate();
    }

    /** The certificate browsers are shown. */
    public X509Certificate certificate() {
        return tls.certificate();
    }

    /** What the dashboard's certificate is, for a log line. */
    String describe() {
        return authority == null ? "the operator's certificate from " + CERT_SETTING
                : "a certificate of the dashboard CA (SHA-256 " + authority.fingerprint() + ")";
    }

    /** Names in a certificate as browsers match them: DNS names (one leading wildcard label) and IP addresses. */
    static final class WebNames {
        private WebNames() {}

        static boolean covers(X509Certificate certificate, String name) {
            try {
                if (certificate.getSubjectAlternativeNames() == null) {
                    return false;
                }
                for (List<?> entry : certificate.getSubjectAlternativeNames()) {
                    int type = (Integer) entry.get(0);
                    String value = String.valueOf(entry.get(1)).toLowerCase(Locale.ROOT);
                    if (type == 2 && dnsMatches(value, name)) {
                        return true;
                    }
                    if (type == 7 && sameAddress(value, name)) {
                        return true;
                    }
                }
                return false;
            } catch (CertificateParsingException e) {
                return false;
            }
        }

        private static boolean dnsMatches(String pattern, String name) {
            if (pattern.startsWith("*.")) {
                int dot = name.indexOf('.');
                return dot > 0 && name.substring(dot + 1).equals(pattern.substring(2));
            }
            return pattern.equals(name);
        }

        private static boolean sameAddress(String a, String b) {
            if (!(a.contains(":") || a.matches("[0-9.]+")) || !(b.contains(":") || b.matches("[0-9.]+"))) {
                return false;
            }
            try {
                // Literals only (digits, dots, colons): parsed, never looked up.
                return InetAddress.getByName(a).equals(InetAddress.getByName(b));
            } catch (UnknownHostException e) {
                return false;
            }
        }
    }
}
