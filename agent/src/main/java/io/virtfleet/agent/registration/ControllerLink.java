package io.virtfleet.agent.registration;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.common.Version;
import io.virtfleet.common.units.Durations;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.agent.retry.Backoff;
import io.virtfleet.agent.retry.FailureLog;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the agent registered with the controller and heartbeating. Registers, then heartbeats every
 * interval; when the controller is unreachable it retries with capped backoff, logs at most once per
 * {@code logPeriod}, and never gives up: an agent outlives any controller outage. When the controller
 * forgets the session (it restarted) the link registers again at once.
 *
 * <p>Calls wait for the channel to connect (within their deadline) instead of failing fast. After a controller
 * restart every agent's connection needs a TLS handshake, and a thousand of them queue up on the controller: an
 * agent whose calls failed fast while its handshake waited would double its backoff and come back many seconds
 * after its connection did. So a call that timed out only because the channel was still connecting is re-issued
 * after a short jitter, without growing the backoff. While the channel cannot connect, the link retries the
 * connection every 1–2 s ({@link #RECONNECT_PACE}) instead of letting gRPC's connect backoff grow towards its
 * two-minute cap: an agent must be back within seconds of its controller, however long the outage was. A
 * refused connection costs the controller's host nothing, so 1,000 agents doing this are harmless.
 *
 * <p>What the controller says about its definitions repository (its git port, its current commit) is passed on to
 * {@link DefinitionsNews}: that is how a host that was away learns it has replicas to catch up on.
 */
public final class ControllerLink implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControllerLink.class);
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(5);
    /** Upper bound of the random pause before re-issuing a call that timed out waiting for a connection. */
    private static final Duration RECONNECT_JITTER = Duration.ofMillis(500);
    /** Longest pause between connection attempts while the controller is unreachable (half of it, plus jitter). */
    private static final Duration RECONNECT_PACE = Duration.ofSeconds(2);

    /** What the link needs to know about its agent. */
    public record Settings(String agentId, String advertisedEndpoint, String controller, List<String> storageTiers,
                           Duration heartbeatInterval, Duration maxBackoff, Duration logPeriod) {}

    private final Settings settings;
    private final HostReporter reporter;
    private final DefinitionsNews definitions;
    private final ManagedChannel channel;
    private final RegistryGrpc.RegistryBlockingStub registry;
    /** Fails at once while the channel is down, with the connection's error: used to say why. */
    private final RegistryGrpc.RegistryBlockingStub failFast;
    private final ScheduledExecutorService loop;
    private final ScheduledExecutorService pacer;
    private final Backoff backoff;
    private final FailureLog failures;

    private final java.util.concurrent.atomic.AtomicLong heartbeatsAccepted = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong callsFailed = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong reconnectsPaced = new java.util.concurrent.atomic.AtomicLong();
    private volatile String sessionId;
    private volatile Duration interval;
    private volatile boolean closed;

    public ControllerLink(Settings settings, HostReporter reporter, ManagedChannel channel) {
        this(settings, reporter, DefinitionsNews.NONE, channel);
    }

    public ControllerLink(Settings settings, HostReporter reporter, DefinitionsNews definitions, ManagedChannel channel) {
        this.settings = settings;
        this.reporter = reporter;
        this.definitions = definitions;
        this.channel = channel;
        this.failFast = RegistryGrpc.newBlockingStub(channel);
        this.registry = failFast.withWaitForReady();
        this.interval = settings.heartbeatInterval();
        this.backoff = new Backoff(settings.heartbeatInterval(), settings.maxBackoff());
        this.failures = new FailureLog(log, settings.logPeriod());
        this.loop = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vf-controller-link");
            t.setDaemon(true);
            return t;
        });
        // Its own thread: the link's thread spends outages inside calls waiting for the connection.
        this.pacer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vf-controller-reconnect");
            t.setDaemon(true);
            return t;
        });
    }

    public void start() {
        loop.execute(this::tick);
        pacer.execute(this::paceReconnects);
    }

    /** Follows the channel's state; in TRANSIENT_FAILURE, asks for a new connection attempt after 1–2 s. */
    private void paceReconnects() {
        if (closed) {
            return;
        }
        ConnectivityState state = channel.getState(false);
        if (state == ConnectivityState.TRANSIENT_FAILURE) {
            long half = RECONNECT_PACE.toMillis() / 2;
            pacer.schedule(() -> {
                if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
                    reconnectsPaced.incrementAndGet();
                    channel.resetConnectBackoff();
                }
                paceReconnects();
            }, half + ThreadLocalRandom.current().nextLong(half + 1), TimeUnit.MILLISECONDS);
        } else if (state != ConnectivityState.SHUTDOWN) {
            channel.notifyWhenStateChanged(state, () -> {
                try {
                    pacer.execute(this::paceReconnects);
                } catch (java.util.concurrent.RejectedExecutionException closing) {
                    // the link is closing
                }
            });
        }
    }

    /** Heartbeats the controller accepted since this link started. */
    public long heartbeatsAccepted() {
        return heartbeatsAccepted.get();
    }

    /** Register and heartbeat calls that failed (unreachable, refused...) since this link started. */
    public long callsFailed() {
        return callsFailed.get();
    }

    /**
     * Connection attempts the link asked for itself while the controller was unreachable (each cuts gRPC's own
     * backoff short): how an outage's pace shows without a clock.
     */
    public long reconnectsPaced() {
        return reconnectsPaced.get();
    }

    /** True while the agent holds a session the controller accepted. */
    public boolean registered() {
        return sessionId != null;
    }

    private void tick() {
        if (closed) {
            return;
        }
        if (sessionId == null) {
            try {
                reporter.awaitHypervisor();
            } catch (InterruptedException e) {
                return; // closing
            }
        }
        Duration wait;
        try {
            HostReport report = reporter.report();
            if (sessionId == null) {
                register(report);
            } else {
                heartbeat(report);
            }
            failures.recovered("controller at " + settings.controller() + " reachable again");
            backoff.reset();
            wait = interval;
        } catch (StatusRuntimeException e) {
            wait = onFailure(e);
        } catch (RuntimeException e) {
            // Never let the loop die: an agent that stops heartbeating strands its host.
            failures.failed("unexpected error talking to the controller: " + e, e);
            wait = backoff.next();
        }
        if (!closed) {
            loop.schedule(this::tick, wait.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void register(HostReport report) {
        RegisterResponse response = registry.withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .register(RegisterRequest.newBuilder()
                        .setAgentId(settings.agentId())
                        .setAgentEndpoint(settings.advertisedEndpoint())
                        .setAgentVersion(Version.current())
                        .addAllStorageTiers(settings.storageTiers())
                        .setReport(report)
                        .build());
        sessionId = response.getSessionId();
        Duration asked = Duration.ofMillis(response.getHeartbeatIntervalMs());
        interval = asked.isZero() || asked.compareTo(settings.heartbeatInterval()) > 0 ? settings.heartbeatInterval() : asked;
        log.info("registered with controller at {} as host {} (heartbeat every {})",
                settings.controller(), report.getHostName(), Durations.shortText(interval));
        tell(() -> definitions.registered(response.getDefinitionsGitPort(), response.getDesiredDefinitionsCommit(),
                response.getStandDown(), response.getRestoreHold()));
    }

    private void heartbeat(HostReport report) {
        HeartbeatResponse response = registry.withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .heartbeat(HeartbeatRequest.newBuilder().setSessionId(sessionId).setReport(report).build());
        heartbeatsAccepted.incrementAndGet();
        tell(() -> definitions.heartbeat(response.getDesiredDefinitionsCommit(), response.getStandDown(),
                response.getRestoreHold()));
    }

    /** A fault in what listens to the definitions' news must not look like the controller failing, nor stop the link. */
    private static void tell(Runnable news) {
        try {
            news.run();
        } catch (RuntimeException e) {
            log.error("definitions news not taken", e);
        }
    }

    private Duration onFailure(StatusRuntimeException e) {
        callsFailed.incrementAndGet();
        Status.Code code = e.getStatus().getCode();
        String detail = e.getStatus().getDescription() == null ? code.toString() : e.getStatus().getDescription();
        if (code == Status.Code.FAILED_PRECONDITION && sessionId != null) {
            log.info("controller no longer knows this agent's session ({}); registering again", detail);
            sessionId = null;
            return Duration.ZERO;
        }
        ConnectivityState state = channel.getState(false);
        if (code == Status.Code.DEADLINE_EXCEEDED && state != ConnectivityState.READY) {
            // The call waited its whole deadline for a connection (controller down, or its handshakes queued):
            // call again soon, so that a call is waiting whenever the connection comes up.
            failures.failed("cannot reach controller at " + settings.controller() + ": not connected after "
                    + Durations.shortText(CALL_DEADLINE) + connectionError(state), null);
            return Duration.ofMillis(ThreadLocalRandom.current().nextLong(RECONNECT_JITTER.toMillis() + 1));
        }
        if (code == Status.Code.ALREADY_EXISTS || code == Status.Code.INVALID_ARGUMENT
                || code == Status.Code.PERMISSION_DENIED) {
            failures.failed("controller at " + settings.controller() + " refused registration: " + detail, null);
        } else {
            failures.failed("cannot reach controller at " + settings.controller() + ": " + code + " " + detail, null);
        }
        return backoff.next();
    }

    /** Why the channel is not connected, as gRPC saw it on its last attempt. */
    private String connectionError(ConnectivityState state) {
        if (state != ConnectivityState.TRANSIENT_FAILURE) {
            return " (" + state + ")";
        }
        try {
            // In TRANSIENT_FAILURE a fail-fast call returns the last connection error without touching the network.
            failFast.withDeadlineAfter(1, TimeUnit.SECONDS).heartbeat(HeartbeatRequest.getDefaultInstance());
            return "";
        } catch (StatusRuntimeException e) {
            Status s = e.getStatus();
            Throwable cause = s.getCause();
            return ": " + s.getCode() + (s.getDescription() == null ? "" : " " + s.getDescription())
                    + (cause == null || cause.getMessage() == null ? "" : " (" + cause.getMessage() + ")");
        }
    }

    @Override
    public void close() {
        closed = true;
        pacer.shutdownNow();
        loop.shutdownNow();
        try {
            loop.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
