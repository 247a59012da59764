package io.virtfleet.controller.trust;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.TlsCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's keys and certificates, under {@code <data-dir>/pki}: the fleet CA, the controller's
 * own certificate (re-issued by itself once a third of its life is left, without a restart), and on
 * first start an admin operator bundle so the first operator can act at all.
 */
public final class ControllerPki {
    private static final Logger log = LoggerFactory.getLogger(ControllerPki.class);
    static final String ADMIN_BUNDLE = "admin.pem";

    private final Path dir;
    private final Clock clock;
    private final CertificateAuthority ca;
    private final Duration serverLifetime;
    private final TlsCredentials credentials;

    private ControllerPki(Path dir, Clock clock, CertificateAuthority ca, Duration serverLifetime,
                          TlsCredentials credentials) {
        this.dir = dir;
        this.clock = clock;
        this.ca = ca;
        this.serverLifetime = serverLifetime;
        this.credentials = credentials;
    }

    public static ControllerPki open(Path dataDir, Clock clock, Duration serverLifetime) throws IOException {
        Path dir = dataDir.resolve("pki");
        StateFiles.createPrivateDirectory(dir);
        boolean fresh = !Files.exists(dir.resolve("ca.crt"));
        CertificateAuthority ca = CertificateAuthority.loadOrCreate(dir, clock);
        if (fresh) {
            log.info("created the fleet CA in {} (fingerprint {})", dir, ca.fingerprint());
        }
        KeyPair keys = Keys.generate();
        X509Certificate own = issueOwn(ca, keys, serverLifetime);
        ControllerPki pki = new ControllerPki(dir, clock, ca, serverLifetime,
                new TlsCredentials(keys.getPrivate(), own, ca.certificate()));
        if (fresh) {
            Path bundle = dir.resolve(ADMIN_BUNDLE);
            pki.writeOperatorBundle("admin", FleetIdentity.Role.ADMIN, Duration.ofDays(365), bundle);
            log.info("operator credentials for 'admin' written to {}; give them to the CLI with"
                    + " --credentials or copy them to ~/.config/virtfleet/credentials.pem", bundle);
        }
        return pki;
    }

    public CertificateAuthority ca() {
        return ca;
    }

    public TlsCredentials credentials() {
        return credentials;
    }

    public Path directory() {
        return dir;
    }

    /** Re-issues the controller's certificate when a third of its life or less is left. */
    public synchronized boolean renewIfDue() throws IOException {
        Instant notAfter = credentials.notAfter();
        Instant renewAt = notAfter.minus(serverLifetime.dividedBy(3));
        if (clock.instant().isBefore(renewAt)) {
            return false;
        }
        KeyPair keys = Keys.generate();
        credentials.update(keys.getPrivate(), issueOwn(ca, keys, serverLifetime));
        log.info("renewed the controller's certificate; valid until {}", credentials.notAfter());
        return true;
    }

    /** Writes a bundle (key, certificate, CA) an operator's CLI authenticates with; owner-only. */
    public void writeOperatorBundle(String name, FleetIdentity.Role role, Duration lifetime, Path file) throws IOException {
        KeyPair keys = Keys.generate();
        try {
            X509Certificate cert = ca.issue(keys.getPublic(), FleetIdentity.operator(name, role), lifetime, List.of());
            StateFiles.writePrivate(file, Pem.of(keys.getPrivate(), cert, ca.certificate()));
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot issue operator certificate for " + name, e);
        }
    }

    private static X509Certificate issueOwn(CertificateAuthority ca, KeyPair keys, Duration lifetime) throws IOException {
        try {
            return ca.issue(keys.getPublic(), FleetIdentity.controller(), lifetime, List.of());
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot issue the controller's certificate", e);
        }
    }
}
