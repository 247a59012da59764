package io.virtfleet.controller.trust;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Operators whose certificates were revoked, by name: revoking a name refuses every certificate issued to it up to
 * that moment (the controller does not list the certificates it gave operators, and the first admin's, or one made
 * offline by {@code reissue-admin}, are certificates like any other). Certificates issued to the name afterwards
 * work: each revocation records the first whole second after it, and a certificate counts as issued in the second
 * its CA says ({@link CertificateAuthority#issuedAt}); one issued in the revocation's own second is dated to the next
 * ({@link #issueAt}).
 *
 * <p>One line per name, {@code <name> <good-from-epoch-ms>}, in a state file written whole. Checked on every call
 * (see {@link Authorization.Revocations}), so reads take no lock.
 */
public final class RevokedOperators implements Authorization.Revocations {
    /** The file's name in the controller's data directory. */
    public static final String FILE = "revoked-operators";

    private final Path file;
    /** Name → first instant at which a certificate issued to it is good again. */
    private final Map<String, Instant> goodFrom = new ConcurrentHashMap<>();

    private RevokedOperators(Path file) {
        this.file = file;
    }

    public static RevokedOperators open(Path file) throws IOException {
        RevokedOperators revoked = new RevokedOperators(file);
        if (Files.exists(file)) {
            int n = 0;
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                n++;
                String[] f = line.strip().split(" ");
                if (line.isBlank()) {
                    continue;
                }
                if (f.length != 2 || !f[1].matches("[0-9]{1,19}")) {
                    throw new IOException(file + " line " + n + ": expected \"<operator> <epoch-ms>\", found \"" + line + "\"");
                }
                revoked.goodFrom.put(f[0], Instant.ofEpochMilli(Long.parseLong(f[1])));
            }
        }
        return revoked;
    }

    /** Revokes every certificate issued to {@code name} up to {@code now}; returns from when new ones are good. */
    public synchronized Instant revoke(String name, Instant now) throws IOException {
        Instant from = now.truncatedTo(ChronoUnit.SECONDS).plusSeconds(1);
        Instant before = goodFrom.get(name);
        if (before == null || before.isBefore(from)) {
            // On the disk first: a revocation the caller was told failed must not be in force until a restart only.
            Map<String, Instant> next = new TreeMap<>(goodFrom);
            next.put(name, from);
            save(next);
            goodFrom.put(name, from);
        }
        return goodFrom.get(name);
    }

    /** When a certificate issued to {@code name} now is to count as issued: now, or after its last revocation. */
    public Instant issueAt(String name, Instant now) {
        Instant from = goodFrom.get(name);
        return from == null || now.isAfter(from) ? now : from;
    }

    /**
     * Whether something granted to operator {@code name} at {@code grantedAt} (a dashboard session) was revoked
     * since: the operator was revoked after it was granted.
     */
    public boolean revokedSince(String name, Instant grantedAt) {
        Instant from = goodFrom.get(name);
        return from != null && grantedAt.isBefore(from);
    }

    @Override
    public Optional<String> refusal(FleetIdentity holder, X509Certificate certificate) {
        if (holder.kind() != FleetIdentity.Kind.OPERATOR) {
            return Optional.empty();
        }
        Instant from = goodFrom.get(holder.name());
        if (from == null || !CertificateAuthority.issuedAt(certificate).isBefore(from)) {
            return Optional.empty();
        }
        return Optional.of("the certificate of operator " + holder.name() + " was revoked (certificates issued to "
                + holder.name() + " before " + from + " are refused); ask an admin for new credentials");
    }

    /** The one write of this file: whole, through the durable state-file helper. */
    private void save(Map<String, Instant> next) throws IOException {
        StringBuilder out = new StringBuilder();
        new TreeMap<>(next).forEach((name, from) -> out.append(name).append(' ').append(from.toEpochMilli()).append('\n'));
        StateFiles.write(file, out.toString());
    }
}
