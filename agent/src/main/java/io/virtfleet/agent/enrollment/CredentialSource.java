package io.virtfleet.agent.enrollment;

import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.retry.Backoff;
import io.virtfleet.agent.retry.FailureLog;
import io.virtfleet.common.security.TlsCredentials;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a starting agent gets its certificate: the one stored in its state directory while it is valid,
 * else a new one from enrolling with the join token. While the controller cannot be reached it keeps
 * trying (logged once per period); a refused token ends the attempt, since retrying cannot fix it.
 */
public final class CredentialSource {
    private static final Logger log = LoggerFactory.getLogger(CredentialSource.class);

    private final Path stateDir;
    private final String hostName;
    private final Enroller enroller;
    private final String joinToken;
    private final Path joinTokenFile;
    private final Duration maxBackoff;
    private final Clock clock;

    public CredentialSource(Path stateDir, String hostName, Enroller enroller, String joinToken, Path joinTokenFile,
                            Duration maxBackoff, Clock clock) {
        this.stateDir = stateDir;
        this.hostName = hostName;
        this.enroller = enroller;
        this.joinToken = joinToken;
        this.joinTokenFile = joinTokenFile;
        this.maxBackoff = maxBackoff;
        this.clock = clock;
    }

    public TlsCredentials obtain() throws Enroller.RefusedException, IOException, InterruptedException {
        Optional<TlsCredentials> stored = AgentCredentials.load(stateDir, hostName);
        if (stored.isPresent() && !AgentCredentials.expired(stored.get(), clock.instant())) {
            EnrollmentKey.remove(stateDir); // left over if the agent stopped between storing and removing it
            return stored.get();
        }
        String why = stored.isPresent()
                ? "the certificate of host " + hostName + " expired at " + stored.get().notAfter()
                : "host " + hostName + " is not enrolled yet";
        JoinToken token = token().orElseThrow(() -> new Enroller.RefusedException(why + " and no join token was given;"
                + " create one with 'virtfleet agent token create --host " + hostName
                + (stored.isPresent() ? " --reenroll" : "") + "' and pass it with --join-token-file"));
        log.info("{}; enrolling with the join token", why);
        Backoff backoff = new Backoff(Duration.ofSeconds(1), maxBackoff);
        FailureLog failures = new FailureLog(log, Duration.ofMinutes(1));
        while (true) {
            try {
                return enroller.enroll(token).credentials();
            } catch (StatusRuntimeException e) {
                failures.failed("cannot enroll: controller unreachable: " + e.getStatus().getCode() + " "
                        + e.getStatus().getDescription(), null);
                Thread.sleep(backoff.next().toMillis());
            }
        }
    }

    /** The join token: the flag's, else the file's (read each time, so an operator can drop in a new one). */
    public Optional<JoinToken> token() {
        if (joinToken != null) {
            return Optional.of(JoinToken.parse("join-token", joinToken));
        }
        if (joinTokenFile != null && Files.isReadable(joinTokenFile)) {
            try {
                return Optional.of(JoinToken.parse("join-token-file " + joinTokenFile,
                        Files.readString(joinTokenFile, StandardCharsets.US_ASCII)));
            } catch (IOException e) {
                log.warn("cannot read join token file {}: {}", joinTokenFile, e.getMessage());
            }
        }
        return Optional.empty();
    }
}
