package io.virtfleet.common.security;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * A party's credentials in one owner-only PEM file: private key, its certificate, the fleet CA. One file,
 * written atomically, so a crash can never leave a key next to another key's certificate. Agents keep
 * theirs as {@code agent.pem}; operators get theirs from {@code virtfleet operator add}.
 */
public final class CredentialsBundle {
    private CredentialsBundle() {}

    public static TlsCredentials read(Path file) throws IOException {
        String pem = Files.readString(file, StandardCharsets.US_ASCII);
        PrivateKey key = Pem.privateKey(pem);
        List<X509Certificate> certs = Pem.certificates(pem);
        if (certs.size() != 2) {
            throw new IOException(file + ": expected a certificate and the fleet CA, found " + certs.size() + " certificates");
        }
        try {
            return new TlsCredentials(key, certs.get(0), certs.get(1));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    public static void write(Path file, PrivateKey key, X509Certificate certificate, X509Certificate ca) throws IOException {
        StateFiles.writePrivate(file, Pem.of(key, certificate, ca));
    }
}
