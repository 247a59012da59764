package io.virtfleet.controller.trust;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

/**
 * Admin credentials made offline, on the controller's host, straight from the fleet CA in its data directory: the way
 * back in when every admin bundle is lost or revoked. Needs no running controller and no network; whoever can read
 * the CA's key could do as much anyway.
 */
public final class AdminReissue {
    private AdminReissue() {}

    /**
     * Writes a new admin bundle (key, certificate, CA) for {@code name} to {@code out}, owner-only; returns its
     * certificate. Refused when {@code out} exists or the CA cannot be read; nothing is written then.
     */
    public static X509Certificate write(Path dataDir, String name, Path out, Duration lifetime, Clock clock) throws IOException {
        String operator = Names.vmName("name", name);
        if (Files.exists(out)) {
            throw new InvalidInputException("out", out.toString(), "a file that does not exist yet (credentials are never overwritten)");
        }
        // Where ControllerPki keeps the CA; load() never makes a new one (a new CA would trust none of the fleet).
        CertificateAuthority ca = CertificateAuthority.load(dataDir.resolve("pki"), clock);
        // Issued after any revocation of the name, so the running controller accepts it.
        RevokedOperators revoked = RevokedOperators.open(dataDir.resolve(RevokedOperators.FILE));
        KeyPair keys = Keys.generate();
        try {
            X509Certificate cert = ca.issue(keys.getPublic(), FleetIdentity.operator(operator, FleetIdentity.Role.ADMIN),
                    lifetime, List.of(), revoked.issueAt(operator, clock.instant()));
            try {
                StateFiles.createPrivate(out, Pem.of(keys.getPrivate(), cert, ca.certificate()));
            } catch (java.nio.file.FileAlreadyExistsException e) { // made since the check above
                throw new InvalidInputException("out", out.toString(),
                        "a file that does not exist yet (credentials are never overwritten)");
            }
            return cert;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot issue an admin certificate for " + operator + ": " + e.getMessage(), e);
        }
    }
}
