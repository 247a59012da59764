package io.virtfleet.controller.dashboard;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Pem;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dashboard's own CA, kept in {@code <data-dir>/dashboard-ca/} ({@code ca.crt}, {@code ca.key}, both owner-only),
 * used when the operator gives the dashboard no certificate of their own. It is the only authority operators import
 * into their browsers for the dashboard, and it can vouch for nothing but {@code dashboard-names}: its certificate is
 * {@link CertificateAuthority#nameConstrained name-constrained} to them. The fleet CA, which any holder of its key
 * (the controller's host, every backup) could otherwise use against every site an operator's browser visits, never
 * signs for the web.
 *
 * <p>Made on the first start with the dashboard on, and made anew when it no longer fits: {@code dashboard-names}
 * changed (it cannot vouch for a name added since), it ends within a dashboard certificate's lifetime, or its files
 * are damaged. A new one is said loudly in the log, since every browser must then import it. It is not part of
 * backups (it can be made again; see {@code BackupArchive.leftOut}).
 */
public final class DashboardAuthority {
    private static final Logger log = LoggerFactory.getLogger(DashboardAuthority.class);
    /** The directory in the data directory. */
    public static final String DIRECTORY = "dashboard-ca";
    static final String CERT_FILE = "ca.crt";
    static final String KEY_FILE = "ca.key";
    private static final Duration LIFETIME = Duration.ofDays(3650);
    /** Where the fleet CA is in the data directory: there before the dashboard CA on a controller upgraded. */
    private static final String FLEET_PKI = "pki";
    /** X.520's upper bound on a common name. */
    private static final int COMMON_NAME_MAX = 64;

    private DashboardAuthority() {}

    /**
     * The dashboard CA for {@code names}: the one in the data directory if it fits, else a new one written there.
     *
     * @param leafLifetime how long the dashboard's certificates last: a CA that ends sooner is replaced
     * @throws IOException its files are there but unreadable (another user's), or a new one cannot be written
     */
    public static CertificateAuthority open(Path dataDir, List<String> names, Duration leafLifetime, Clock clock)
            throws IOException {
        Path dir = dataDir.resolve(DIRECTORY);
        StateFiles.createPrivateDirectory(dir);
        Path cert = dir.resolve(CERT_FILE);
        Path key = dir.resolve(KEY_FILE);
        String replaced = null;
        if (Files.exists(cert) || Files.exists(key)) {
            tightened(dir, PosixFilePermissions.fromString("rwx------"));
            tightened(key, PosixFilePermissions.fromString("rw-------"));
            try {
                X509Certificate certificate = Pem.certificate(cert);
                PrivateKey privateKey = Pem.privateKey(Files.readString(key, StandardCharsets.US_ASCII));
                CertificateAuthority ca = CertificateAuthority.of(privateKey, certificate, clock);
                if (!CertificateAuthority.constrainedTo(certificate, names)) {
                    replaced = "dashboard-names changed to " + String.join(",", names)
                            + ", and the previous dashboard CA can vouch only for the names it was made for";
                } else if (certificate.getNotAfter().toInstant().isBefore(clock.instant().plus(leafLifetime))) {
                    replaced = "the previous dashboard CA ends on " + certificate.getNotAfter().toInstant();
                } else {
                    log.info("dashboard CA in {} (SHA-256 {}), vouching only for {}", dir, ca.fingerprint(),
                            String.join(", ", names));
                    return ca;
                }
            } catch (AccessDeniedException e) {
                throw new IOException("cannot read the dashboard CA in " + dir + " (" + e.getFile() + "): run the"
                        + " controller as the user that owns its data directory", e);
            } catch (IOException | GeneralSecurityException e) {
                replaced = "the previous dashboard CA in " + dir + " is unusable (" + e.getMessage() + ")";
            }
        }
        CertificateAuthority ca;
        try {
            ca = CertificateAuthority.nameConstrained(commonName(names, clock), names, LIFETIME, clock);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot make the dashboard CA", e);
        }
        ca.save(dir);
        if (replaced == null && upgraded(dataDir)) {
            // A data directory older than this CA: its dashboard was served under the fleet CA, which operators were
            // then told to import. Said once, since from now on the dashboard CA is there.
            log.warn(fleetCaWarning(fleetCaFingerprint(dataDir)));
        }
        if (replaced == null) {
            log.info("made the dashboard CA in {} (SHA-256 {}); it can vouch only for {}. Operators import it into"
                    + " their browsers once: virtfleet dashboard --save-ca FILE", dir, ca.fingerprint(),
                    String.join(", ", names));
        } else {
            log.warn("made a NEW dashboard CA in {} (SHA-256 {}), vouching only for {}: {}. Every browser that imported"
                    + " the previous one must import this one (virtfleet dashboard --save-ca FILE) and may drop the old"
                    + " one", dir, ca.fingerprint(), String.join(", ", names), replaced);
        }
        return ca;
    }

    /**
     * The one line that asks operators to remove the fleet CA from their browsers, for an upgrade from a version whose
     * dashboard used it: said by the controller when it first makes the dashboard CA, and by
     * {@code virtfleet dashboard} each time.
     *
     * @param fingerprint the fleet CA's SHA-256, or null if unknown
     */
    public static String fleetCaWarning(String fingerprint) {
        return "If you imported the fleet CA (\"" + CertificateAuthority.FLEET_CA_NAME + "\", SHA-256 "
                + (fingerprint == null ? "in " + FLEET_PKI + "/ca.crt" : fingerprint) + ") into a browser for an earlier"
                + " version's dashboard, remove it from the browser's authorities: the dashboard no longer needs it, and"
                + " whoever holds its key could pose as any web site to that browser";
    }

    /**
     * Takes group and other permissions away from {@code file} if it has any (a key copied in by hand, restored from
     * elsewhere, chmod'ed), saying so: the key signs for the dashboard's names, so only the controller may read it.
     */
    private static void tightened(Path file, Set<PosixFilePermission> ownerOnly) throws IOException {
        Set<PosixFilePermission> now;
        try {
            now = Files.getPosixFilePermissions(file);
        } catch (NoSuchFileException | UnsupportedOperationException e) {
            return;
        }
        if (!ownerOnly.containsAll(now)) {
            Files.setPosixFilePermissions(file, ownerOnly);
            log.warn("{} was {} (others than the controller's user could read the dashboard CA's key); made it {}", file,
                    PosixFilePermissions.toString(now), PosixFilePermissions.toString(ownerOnly));
        }
    }

    /**
     * Whether the data directory had its fleet CA before this process started (a controller upgraded, not one on its
     * first start, which makes both CAs in the same run).
     */
    private static boolean upgraded(Path dataDir) {
        Path fleetCa = dataDir.resolve(FLEET_PKI).resolve(CERT_FILE);
        if (!Files.exists(fleetCa)) {
            return false;
        }
        Optional<Instant> started = ProcessHandle.current().info().startInstant();
        try {
            return started.isEmpty() || CertificateAuthority.issuedAt(Pem.certificate(fleetCa)).isBefore(started.get());
        } catch (IOException | RuntimeException e) {
            return true; // there but unreadable: say it rather than miss it
        }
    }

    private static String fleetCaFingerprint(Path dataDir) {
        try {
            return CertificateAuthority.fingerprint(Pem.certificate(dataDir.resolve(FLEET_PKI).resolve(CERT_FILE)));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * What browsers list it as: the first name and the day it was made, so that an operator can tell a new one from
     * the one it replaced.
     */
    private static String commonName(List<String> names, Clock clock) {
        String day = " " + LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
        String head = "virtfleet dashboard CA " + names.get(0);
        return head.substring(0, Math.min(head.length(), COMMON_NAME_MAX - day.length())) + day;
    }
}
