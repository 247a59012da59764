package io.virtfleet.controller.registry;

import io.virtfleet.common.units.Durations;
import io.virtfleet.proto.v1.HostReport;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live inventory of hosts. A host name belongs to the first agent identity that registers it until an
 * operator forgets the host; each registration opens a new session, and only the current session's
 * heartbeats keep the host alive. Thread-safe and lock-free on the heartbeat path.
 */
public final class HostRegistry {
    private static final Logger log = LoggerFactory.getLogger(HostRegistry.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConcurrentHashMap<String, HostRecord> hosts = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, String> hostBySession = new ConcurrentHashMap<>();
    private final LongSupplier nanoTime;
    private final Clock clock;
    private volatile Consumer<HostRecord> onUpdate = r -> { };
    private volatile Consumer<String> onForget = n -> { };

    /** The wall clock the registry stamps reports with (tests give their own). */
    public Clock clock() {
        return clock;
    }

    public HostRegistry(LongSupplier nanoTime, Clock clock) {
        this.nanoTime = nanoTime;
        this.clock = clock;
    }

    public HostRegistry() {
        this(System::nanoTime, Clock.systemUTC());
    }

    /** Tells {@code update} of every registration and heartbeat, and {@code forget} of every forgotten host. */
    public void listen(Consumer<HostRecord> update, Consumer<String> forget) {
        this.onUpdate = update;
        this.onForget = forget;
    }

    /**
     * Opens a new session for the agent that owns (or first claims) the report's host name.
     *
     * @throws RegistrationRefusedException when another agent identity owns the name
     */
    public HostRecord register(String agentId, String endpoint, String version, List<String> storageTiers,
                               HostReport report) {
        String name = report.getHostName();
        String session = newSessionId();
        long nowNanos = nanoTime.getAsLong();
        long nowMs = clock.millis();
        HostRecord[] previous = new HostRecord[1];
        HostRecord registered = hosts.compute(name, (n, existing) -> {
            if (existing != null && !existing.agentId().equals(agentId)) {
                throw new RegistrationRefusedException(ownedMessage(existing, agentId, nowNanos));
            }
            previous[0] = existing;
            return new HostRecord(name, agentId, session, endpoint, version, storageTiers, nowMs, nowNanos, nowMs, report);
        });
        hostBySession.put(session, name);
        if (previous[0] != null) {
            hostBySession.remove(previous[0].sessionId(), name);
            log.info("host {} re-registered by agent {} at {}", name, agentId, endpoint);
        } else {
            log.info("host {} registered by agent {} at {}", name, agentId, endpoint);
        }
        onUpdate.accept(registered);
        return registered;
    }

    /**
     * Records a heartbeat.
     *
     * @throws UnknownSessionException when the session is not the host's current one
     * @throws IllegalArgumentException when the report names another host than the session's
     */
    public HostRecord heartbeat(String sessionId, HostReport report) {
        String name = hostBySession.get(sessionId);
        if (name == null) {
            throw new UnknownSessionException("unknown session; register again");
        }
        if (!name.equals(report.getHostName())) {
            throw new IllegalArgumentException("report.host_name: \"" + report.getHostName()
                    + "\" differs from the session's host \"" + name + "\"");
        }
        long nowNanos = nanoTime.getAsLong();
        long nowMs = clock.millis();
        HostRecord updated = hosts.computeIfPresent(name, (n, current) -> {
            if (!current.sessionId().equals(sessionId)) {
                throw new UnknownSessionException("session replaced by a newer registration of host " + name);
            }
            return current.withHeartbeat(report, nowNanos, nowMs);
        });
        if (updated == null) {
            hostBySession.remove(sessionId);
            throw new UnknownSessionException("host " + name + " was forgotten; register again");
        }
        onUpdate.accept(updated);
        return updated;
    }

    public Optional<HostRecord> get(String name) {
        return Optional.ofNullable(hosts.get(name));
    }

    public List<HostRecord> all() {
        return new ArrayList<>(hosts.values());
    }

    /** Drops a host and releases its name for any agent identity. */
    public Optional<HostRecord> forget(String name) {
        HostRecord removed = hosts.remove(name);
        if (removed != null) {
            hostBySession.remove(removed.sessionId(), name);
            log.info("host {} forgotten; its name is free for a new agent (was agent {})", name, removed.agentId());
            onForget.accept(name);
        }
        return Optional.ofNullable(removed);
    }

    public long nanoTime() {
        return nanoTime.getAsLong();
    }

    public long unixMillis() {
        return clock.millis();
    }

    private static String ownedMessage(HostRecord owner, String claimant, long nowNanos) {
        return "host name \"" + owner.name() + "\" belongs to agent " + owner.agentId()
                + " (at " + owner.agentEndpoint() + ", last heartbeat "
                + Durations.shortText(Duration.ofNanos(nowNanos - owner.lastSeenNanos())) + " ago); agent " + claimant
                + " may not take it. Give this host another name, or, if the machine was reinstalled, release the"
                + " name with: virtfleet host forget " + owner.name();
    }

    private static String newSessionId() {
        byte[] bytes = new byte[16];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
