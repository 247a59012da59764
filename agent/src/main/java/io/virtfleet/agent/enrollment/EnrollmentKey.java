package io.virtfleet.agent.enrollment;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;

/**
 * The key an agent enrolls with, kept in its state directory ({@code enrollment-key.pem}, owner-only) from the
 * first Enroll call until the certificate is stored. The controller lets a used join token be retried only with the
 * key it was used for, so an agent that never received its certificate (a reset connection, a deadline) must ask
 * again with the same key, even after a restart.
 */
final class EnrollmentKey {
    static final String FILE = "enrollment-key.pem";

    private EnrollmentKey() {}

    /**
     * The key of the enrollment under way, or a new one, stored before it is used. The file holds the private key
     * and a signing request, which carries the public key.
     */
    static KeyPair loadOrCreate(Path stateDir, String hostName) throws IOException {
        Path file = stateDir.resolve(FILE);
        if (Files.exists(file)) {
            return load(file, hostName);
        }
        KeyPair keys = Keys.generate();
        StateFiles.writePrivate(file, Pem.of(keys.getPrivate(), Keys.signingRequest(keys, hostName)));
        return keys;
    }

    private static KeyPair load(Path file, String hostName) throws IOException {
        String pem = Files.readString(file, StandardCharsets.US_ASCII);
        try {
            PrivateKey privateKey = Pem.privateKey(pem);
            PublicKey publicKey = CertificateAuthority.verifiedKey(Pem.signingRequest(pem));
            KeyPair keys = new KeyPair(publicKey, privateKey);
            // A request signed with the private key checks out against the public key only if the two belong together.
            CertificateAuthority.verifiedKey(Keys.signingRequest(keys, hostName));
            return keys;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new IOException(file + " does not hold a usable enrollment key (" + e.getMessage()
                    + "); remove it to enroll with a new key and a new join token", e);
        }
    }

    /** Forgets the key once it is part of the stored credentials (or they are stored with another). */
    static void remove(Path stateDir) throws IOException {
        StateFiles.delete(stateDir.resolve(FILE));
    }
}
