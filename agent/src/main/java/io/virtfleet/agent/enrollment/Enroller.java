package io.virtfleet.agent.enrollment;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.EnrollRequest;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.RenewRequest;
import java.io.IOException;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Gets the agent a certificate: first with a join token, later by renewing the one it has. */
public final class Enroller {
    private static final Logger log = LoggerFactory.getLogger(Enroller.class);
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(10);

    /** The controller turned the request down; retrying the same request cannot help. */
    public static final class RefusedException extends Exception {
        public RefusedException(String message) {
            super(message);
        }
    }

    private final Path stateDir;
    private final String hostName;
    private final Endpoint controller;

    public Enroller(Path stateDir, String hostName, Endpoint controller) {
        this.stateDir = stateDir;
        this.hostName = hostName;
        this.controller = controller;
    }

    /**
     * Enrolls with a join token. Throws {@link RefusedException} when the controller refuses the token and
     * {@link StatusRuntimeException} (UNAVAILABLE...) when it cannot be reached, so callers can retry that.
     * Every attempt uses the same key ({@link EnrollmentKey}) until one succeeds: the controller may have used
     * up the token for an attempt whose answer was lost, and then honours the token again only for that key.
     */
    public AgentCredentials.Issued enroll(JoinToken token) throws RefusedException, IOException {
        KeyPair keys = EnrollmentKey.loadOrCreate(stateDir, hostName);
        try (Transport transport = Transport.forEnrollment("enroll")) {
            ManagedChannel channel = transport.enrollmentChannel(controller, token.caFingerprint(), Runnable::run);
            try {
                CertificateResponse response = call(() -> EnrollmentGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                        .enroll(EnrollRequest.newBuilder()
                                .setJoinToken(token.text())
                                .setHostName(hostName)
                                .setCsrPem(Pem.of(Keys.signingRequest(keys, hostName)))
                                .build()));
                AgentCredentials.Issued issued = AgentCredentials.store(stateDir, keys, response, token.caFingerprint(), hostName);
                EnrollmentKey.remove(stateDir); // the key lives on in the credentials
                log.info("enrolled as host {} with controller {}; certificate valid until {}", hostName, controller,
                        issued.certificate().getNotAfter().toInstant());
                return issued;
            } finally {
                channel.shutdownNow();
            }
        }
    }

    /** Renews the certificate over a channel that authenticates with it; updates {@code credentials} in place. */
    public void renew(TlsCredentials credentials, ManagedChannel controllerChannel) throws RefusedException, IOException {
        KeyPair keys = Keys.generate();
        CertificateResponse response = call(() -> EnrollmentGrpc.newBlockingStub(controllerChannel)
                .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .renew(RenewRequest.newBuilder().setCsrPem(Pem.of(Keys.signingRequest(keys, hostName))).build()));
        AgentCredentials.Issued renewed = AgentCredentials.store(stateDir, keys, response,
                CertificateAuthority.fingerprint(credentials.ca()), hostName);
        credentials.update(renewed.key(), renewed.certificate());
        log.info("renewed the certificate of host {}; valid until {}", hostName, credentials.notAfter());
    }

    private interface Call {
        CertificateResponse run();
    }

    private static CertificateResponse call(Call call) throws RefusedException {
        try {
            return call.run();
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            if (code == Status.Code.PERMISSION_DENIED || code == Status.Code.INVALID_ARGUMENT
                    || code == Status.Code.UNAUTHENTICATED) {
                throw new RefusedException(e.getStatus().getDescription());
            }
            throw e;
        }
    }
}
