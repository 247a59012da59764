package io.virtfleet.agent.enrollment;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.security.TlsCredentials;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Renews the agent's certificate when two thirds of its life have passed, without a restart: the new
 * certificate is swapped into the live TLS credentials and the controller connection re-handshakes with
 * it (calls in flight finish on the old connection). If the certificate has expired anyway — the host was
 * off for longer than its life — it re-enrolls with a join token from the configured file, so an
 * operator only has to create a token, never to log in and restart.
 */
public final class CertificateRenewer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CertificateRenewer.class);
    private static final Duration MAX_RETRY = Duration.ofMinutes(1);
    private static final Duration MIN_RETRY = Duration.ofSeconds(1);

    private final TlsCredentials credentials;
    private final Enroller enroller;
    private final ManagedChannel controllerChannel;
    private final Supplier<Optional<JoinToken>> reenrollToken;
    private final Clock clock;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-cert-renewal");
        t.setDaemon(true);
        return t;
    });
    /** When the current certificate was loaded or received. */
    private Instant since;

    public CertificateRenewer(TlsCredentials credentials, Enroller enroller, ManagedChannel controllerChannel,
                              Supplier<Optional<JoinToken>> reenrollToken, Clock clock) {
        this.credentials = credentials;
        this.enroller = enroller;
        this.controllerChannel = controllerChannel;
        this.reenrollToken = reenrollToken;
        this.clock = clock;
    }

    public void start() {
        scheduleNext();
    }

    /**
     * When the current certificate is due: two thirds into the life it had left when we got it. (Not
     * from its notBefore, which the CA backdates a little to tolerate clock skew.)
     */
    Instant renewAt() {
        Instant notAfter = credentials.notAfter();
        return since.plus(Duration.between(since, notAfter).multipliedBy(2).dividedBy(3));
    }

    private void scheduleNext() {
        since = clock.instant();
        long delay = Math.max(0, Duration.between(clock.instant(), renewAt()).toMillis());
        timer.schedule(this::attempt, delay, TimeUnit.MILLISECONDS);
    }

    private void attempt() {
        try {
            if (AgentCredentials.expired(credentials, clock.instant())) {
                reenroll();
            } else {
                enroller.renew(credentials, controllerChannel);
            }
            controllerChannel.enterIdle(); // the next call handshakes with the new certificate
            scheduleNext();
        } catch (Enroller.RefusedException e) {
            log.error("certificate renewal refused: {}", e.getMessage());
            retryLater();
        } catch (StatusRuntimeException | IOException e) {
            log.warn("certificate renewal failed ({}); retrying", e.getMessage());
            retryLater();
        } catch (RuntimeException e) {
            log.error("certificate renewal failed unexpectedly; retrying", e);
            retryLater();
        }
    }

    private void reenroll() throws Enroller.RefusedException, IOException {
        Optional<JoinToken> token = reenrollToken.get();
        if (token.isEmpty()) {
            log.error("the certificate of host {} expired at {}; create a token with 'virtfleet agent token create"
                    + " --host {} --reenroll' and put it in the agent's join token file", credentials.identity().name(),
                    credentials.notAfter(), credentials.identity().name());
            throw new Enroller.RefusedException("expired and no join token");
        }
        AgentCredentials.Issued fresh = enroller.enroll(token.get());
        credentials.update(fresh.key(), fresh.certificate());
    }

    private void retryLater() {
        Duration left = Duration.between(clock.instant(), credentials.notAfter());
        Duration wait = left.isNegative() ? MAX_RETRY : left.dividedBy(10);
        if (wait.compareTo(MAX_RETRY) > 0) {
            wait = MAX_RETRY;
        }
        if (wait.compareTo(MIN_RETRY) < 0) {
            wait = MIN_RETRY;
        }
        timer.schedule(this::attempt, wait.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
