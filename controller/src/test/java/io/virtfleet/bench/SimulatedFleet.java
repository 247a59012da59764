package io.virtfleet.bench;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.agent.enrollment.JoinToken;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The client side of the controller benchmarks: enrolls simulated agents the way real agents do, and gives
 * each one its own connection.
 */
final class SimulatedFleet implements AutoCloseable {
    /** Held so the level sticks: java.util.logging keeps loggers only weakly. */
    private static final Logger ENROLLMENT_LOG = Logger.getLogger("io.virtfleet.agent.enrollment");

    private final List<Transport> transports = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    /**
     * Over all channels: connections established (the channel went READY), and times a channel entered
     * TRANSIENT_FAILURE (gRPC then keeps reporting that state, failing calls at once, until it connects again).
     */
    final LongAdder connectionsReady = new LongAdder();
    final LongAdder connectionsFailed = new LongAdder();
    /** Per channel: when it last went READY, on {@link System#nanoTime()}; 0 if never. */
    private final List<AtomicLong> readyAt = new ArrayList<>();

    private SimulatedFleet() {}

    /**
     * Enrolls {@code agents} hosts named {@link SimulatedAgent#hostName} with a controller in TLS mode, as an
     * operator and real agents would: reads the admin bundle the controller wrote to {@code
     * <data-dir>/pki/admin.pem}, creates one join token per host through {@code Fleet/CreateJoinToken}, then
     * runs the agent's own {@link Enroller} for each (fresh P-256 key, CSR, {@code Enrollment/Enroll} over a
     * channel that trusts only the CA fingerprint in the token), {@code parallelism} at a time. Returns the credentials,
     * index for index.
     */
    static List<TlsCredentials> enroll(Endpoint controller, Path controllerDataDir, int agents, Path stateRoot,
                                       int parallelism) throws Exception {
        ENROLLMENT_LOG.setLevel(Level.WARNING); // one line per enrolled host is noise here
        long t0 = System.nanoTime();
        TlsCredentials admin = CredentialsBundle.read(controllerDataDir.resolve("pki").resolve("admin.pem"));
        ExecutorService pool = Executors.newFixedThreadPool(parallelism, r -> {
            Thread t = new Thread(r, "bench-enroll");
            t.setDaemon(true);
            return t;
        });
        try (Transport transport = Transport.secure("bench-admin", 1, admin)) {
            ManagedChannel channel = transport.channel(controller, FleetIdentity.controller(), Runnable::run);
            List<Future<String>> tokens = new ArrayList<>();
            try {
                FleetGrpc.FleetBlockingStub fleet = FleetGrpc.newBlockingStub(channel);
                for (int i = 0; i < agents; i++) {
                    CreateJoinTokenRequest request = CreateJoinTokenRequest.newBuilder()
                            .setHostName(SimulatedAgent.hostName(i)).setTtlSeconds(3600).build();
                    tokens.add(pool.submit(() -> fleet.withDeadlineAfter(30, TimeUnit.SECONDS)
                            .createJoinToken(request).getToken()));
                }
                for (Future<String> f : tokens) {
                    f.get(120, TimeUnit.SECONDS);
                }
            } finally {
                channel.shutdownNow();
            }
            long t1 = System.nanoTime();
            List<Future<TlsCredentials>> issued = new ArrayList<>();
            for (int i = 0; i < agents; i++) {
                String host = SimulatedAgent.hostName(i);
                JoinToken token = JoinToken.parse("join-token", tokens.get(i).get());
                Enroller enroller = new Enroller(stateRoot.resolve(host), host, controller);
                issued.add(pool.submit(() -> enroller.enroll(token).credentials()));
            }
            List<TlsCredentials> credentials = new ArrayList<>();
            for (Future<TlsCredentials> f : issued) {
                credentials.add(f.get(120, TimeUnit.SECONDS));
            }
            long t2 = System.nanoTime();
            System.out.printf(Locale.ROOT, "  enrolled %d simulated agents: %d join tokens in %.1f s, %d enrollments"
                    + " (key, CSR, Enroll, %d at a time) in %.1f s%n", agents, agents, (t1 - t0) / 1e9, agents,
                    parallelism, (t2 - t1) / 1e9);
            return credentials;
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * One transport, and so one connection, per simulated agent, exactly as the agent builds it
     * ({@code Transport.secure("agent", 1, credentials)}, or plaintext when {@code credentials} is null): its own
     * one-thread event loop, its own TLS context with its own certificate.
     */
    static SimulatedFleet perAgent(Endpoint controller, int agents, List<TlsCredentials> credentials) {
        SimulatedFleet fleet = new SimulatedFleet();
        for (int i = 0; i < agents; i++) {
            Transport t = credentials == null ? Transport.plaintextForTests("sim" + i, 1)
                    : Transport.secure("sim" + i, 1, credentials.get(i));
            fleet.transports.add(t);
            fleet.add(t.channel(controller, FleetIdentity.controller(), Runnable::run));
        }
        return fleet;
    }

    /** {@code count} plaintext channels on one shared one-thread event loop (the earlier set-up). */
    static SimulatedFleet shared(Endpoint controller, int count) {
        SimulatedFleet fleet = new SimulatedFleet();
        Transport t = Transport.plaintextForTests("bench-load", 1);
        fleet.transports.add(t);
        for (int i = 0; i < count; i++) {
            fleet.add(t.channel(controller, FleetIdentity.controller(), Runnable::run));
        }
        return fleet;
    }

    private void add(ManagedChannel channel) {
        AtomicLong ready = new AtomicLong();
        channels.add(channel);
        readyAt.add(ready);
        watch(channel, channel.getState(false), ready);
    }

    /** Counts state changes: into READY is an established connection, into TRANSIENT_FAILURE a failed attempt. */
    private void watch(ManagedChannel channel, ConnectivityState seen, AtomicLong ready) {
        channel.notifyWhenStateChanged(seen, () -> {
            ConnectivityState now = channel.getState(false);
            if (now == ConnectivityState.READY) {
                ready.set(System.nanoTime());
                connectionsReady.increment();
            } else if (now == ConnectivityState.TRANSIENT_FAILURE) {
                connectionsFailed.increment();
            }
            if (now != ConnectivityState.SHUTDOWN) {
                watch(channel, now, ready);
            }
        });
    }

    ManagedChannel channel(int agent) {
        return channels.get(agent % channels.size());
    }

    /** When the agent's channel last became READY ({@link System#nanoTime()}), 0 if never. */
    long readyAt(int agent) {
        return readyAt.get(agent % readyAt.size()).get();
    }

    int channelCount() {
        return channels.size();
    }

    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
        transports.parallelStream().forEach(Transport::close);
    }
}
