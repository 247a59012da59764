package io.virtfleet.controller.trust;

import io.grpc.Status;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.proto.v1.AddOperatorRequest;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.JoinToken;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** The operator's side of trust: join tokens for agents, certificates for operators, forgetting hosts. */
public final class Enrollments {
    private static final Duration DEFAULT_TOKEN_TTL = Duration.ofHours(1);

    private final ControllerPki pki;
    private final JoinTokens tokens;
    private final EnrolledHosts hosts;
    private final RevokedOperators revoked;
    private final Clock clock;

    public Enrollments(ControllerPki pki, JoinTokens tokens, EnrolledHosts hosts, RevokedOperators revoked, Clock clock) {
        this.pki = pki;
        this.tokens = tokens;
        this.hosts = hosts;
        this.revoked = revoked;
        this.clock = clock;
    }

    public JoinToken createJoinToken(CreateJoinTokenRequest request) {
        long ttlSeconds = request.getTtlSeconds() == 0 ? DEFAULT_TOKEN_TTL.toSeconds() : request.getTtlSeconds();
        if (ttlSeconds < 1 || ttlSeconds > JoinTokens.MAX_TTL.toSeconds()) {
            throw new InvalidInputException("ttl_seconds", Long.toString(request.getTtlSeconds()),
                    "1.." + JoinTokens.MAX_TTL.toSeconds() + " seconds (at most 7 days), or 0 for one hour");
        }
        String host = request.getHostName().isEmpty() ? "" : Names.hostName("host_name", request.getHostName());
        if (request.getReenroll() && host.isEmpty()) {
            throw new InvalidInputException("reenroll", "true", "re-enrolling only together with host_name");
        }
        try {
            JoinTokens.Issued issued = tokens.create(Duration.ofSeconds(ttlSeconds), host, request.getReenroll());
            Audit.record("created a join token" + (host.isEmpty() ? " for any new host" : " for host " + host)
                    + (request.getReenroll() ? " (may re-enroll)" : "") + ", valid until " + issued.expiresAt());
            return JoinToken.newBuilder()
                    .setToken(issued.token())
                    .setExpiresAtUnixMs(issued.expiresAt().toEpochMilli())
                    .setCaFingerprintSha256(pki.ca().fingerprint())
                    .setHostName(host)
                    .setReenroll(request.getReenroll())
                    .build();
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("cannot store the join token: " + e.getMessage()).asRuntimeException();
        }
    }

    public CertificateResponse addOperator(AddOperatorRequest request) {
        String name = Names.vmName("name", request.getName());
        FleetIdentity.Role role = switch (request.getRole()) {
            case "viewer" -> FleetIdentity.Role.VIEWER;
            case "admin" -> FleetIdentity.Role.ADMIN;
            default -> throw new InvalidInputException("role", request.getRole(), "viewer or admin");
        };
        int days = request.getValidDays() == 0 ? 365 : request.getValidDays();
        if (days < 1 || days > 3650) {
            throw new InvalidInputException("valid_days", Integer.toString(request.getValidDays()), "1..3650, or 0 for 365");
        }
        try {
            X509Certificate cert = pki.ca().issue(CertificateAuthority.verifiedKey(EnrollmentEndpoint.csr(request.getCsrPem())),
                    FleetIdentity.operator(name, role), Duration.ofDays(days), List.of(), revoked.issueAt(name, clock.instant()));
            Audit.record("added operator " + name + " as " + request.getRole() + " for " + days + " days");
            return CertificateResponse.newBuilder()
                    .setCertificatePem(Pem.of(cert))
                    .setCaPem(Pem.of(pki.ca().certificate()))
                    .setNotAfterUnixMs(cert.getNotAfter().getTime())
                    .build();
        } catch (GeneralSecurityException e) {
            throw new InvalidInputException("csr_pem", e.getMessage(), "a PKCS#10 request signed by its own key");
        }
    }

    /**
     * Revokes every certificate issued to the operator so far; refused from their next call on. Returns from when
     * certificates issued to the name are good again.
     */
    public Instant revokeOperator(String name, String by) {
        String operator = Names.vmName("name", name);
        try {
            Instant from = revoked.revoke(operator, clock.instant());
            Audit.record("revoked the certificates of operator " + operator + " issued before " + from
                    + (operator.equals(by) ? " (their own)" : ""));
            return from;
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("cannot store the revocation: " + e.getMessage()).asRuntimeException();
        }
    }

    /**
     * Un-enrolls a host: its certificate stops speaking for it, and the join token it used can no longer be retried.
     * Returns whether it was enrolled.
     */
    public boolean forget(String host) {
        try {
            synchronized (hosts) { // as enrollments are: none can slip in between the two files
                tokens.endRetriesFor(host); // first: a crash in between leaves the host unable to retry, not back
                boolean was = hosts.isEnrolled(host);
                hosts.forget(host);
                return was;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
