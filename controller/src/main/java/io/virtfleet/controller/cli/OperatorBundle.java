package io.virtfleet.controller.cli;

import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.TlsCredentials;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An operator's credentials file: private key, certificate and fleet CA in one PEM file, as written by
 * the controller for the first admin and by {@code virtfleet operator add}.
 */
final class OperatorBundle {
    private OperatorBundle() {}

    /** Reads a bundle, or explains in one line what is wrong with it. */
    static TlsCredentials load(Path file) {
        if (!Files.exists(file)) {
            throw new CredentialsException("no operator credentials at " + file + "; an admin creates them with"
                    + " 'virtfleet operator add NAME --role viewer|admin --out FILE' (the first admin's are in the"
                    + " controller's data directory, pki/admin.pem); point to them with --credentials or VIRTFLEET_CREDENTIALS");
        }
        try {
            return CredentialsBundle.read(file);
        } catch (IOException e) {
            throw new CredentialsException("operator credentials " + file + " are unusable: " + e.getMessage());
        }
    }

    /** Operator credentials that cannot be used; nothing was sent anywhere. */
    static final class CredentialsException extends RuntimeException {
        CredentialsException(String message) {
            super(message);
        }
    }
}
