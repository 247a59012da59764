package io.virtfleet.bench;

import io.grpc.BindableService;
import io.grpc.Server;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.units.Durations;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.fleet.FleetEndpoint;
import io.virtfleet.controller.registry.HeartbeatTimer;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.registry.LivenessWatch;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.trust.EnrolledHosts;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The server side of the controller benchmarks, run as its own JVM so that its CPU time can be read from
 * /proc. Modes:
 * <ul>
 *   <li>{@code tls}: the actual secure {@link Controller} ({@code ControllerConfig.of}, mutual TLS 1.3, fleet CA
 *       and admin bundle under {@code <data-dir>/pki}), as {@code ControllerMain} builds it;</li>
 *   <li>{@code real}: the same controller in plaintext test mode ({@code withPlaintextForTests()});</li>
 *   <li>{@code noop}: {@link NoopRegistry} on a plaintext transport with the executor hand-off the controller
 *       used before it ran its handlers on the event loops (the baseline of the earlier measurements);</li>
 *   <li>{@code noop-direct}, {@code real-direct}: handlers on the event loop, no executor; {@code real-direct}
 *       wires the controller's registry, liveness watch and fleet endpoints by hand (plaintext).</li>
 * </ul>
 * All time heartbeats with {@link HeartbeatTimer}. No flight recorder runs here: the controller is measured as
 * it ships. (TLS handshakes are counted on the simulated agents' side, see {@link HandshakeCounter}.)
 *
 * <p>Arguments: {@code MODE [--port N] [--data-dir DIR] [--metrics-listen HOST:PORT] [--reconcile-interval D]}; a
 * restarted controller gets the port and data directory of the one it replaces; the last two (tls and real only)
 * serve the controller's Prometheus metrics as {@code metrics-listen} does, and space its reconciliation passes.
 * Prints {@code LISTENING port data-dir unix-micros} once it accepts
 * connections (the data directory is {@code -} for the no-op modes), then obeys lines on stdin:
 * {@code reset} (forget the histogram, answers {@code OK}), {@code report} (answers
 * {@code REPORT count p50 p90 p99 p999 max mean hosts handshakes}, nanoseconds; -1 where not applicable, which
 * handshakes always is now), {@code stats} (answers {@code STATS gc-count gc-millis id:bytes...}: collections and
 * their time since the JVM started, then the bytes each live thread allocated since it started),
 * {@code metrics-port} (answers {@code METRICS-PORT n}, 0 when metrics are off), {@code fan-out-observed} (tls and
 * real: records one in-step fan-out for every registered host, answers {@code OK hosts}), {@code quit} or end of
 * input (exits).
 */
public final class ControllerProcess {
    private ControllerProcess() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "real";
        int requestedPort = 0;
        Path dataDir = null;
        InetSocketAddress metricsListen = null;
        Duration reconcileInterval = null;
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--port" -> requestedPort = Integer.parseInt(args[i + 1]);
                case "--data-dir" -> dataDir = Path.of(args[i + 1]);
                case "--metrics-listen" -> { // HOST:PORT, port 0 for any free one
                    String at = args[i + 1];
                    metricsListen = new InetSocketAddress(at.substring(0, at.lastIndexOf(':')),
                            Integer.parseInt(at.substring(at.lastIndexOf(':') + 1)));
                }
                case "--reconcile-interval" -> reconcileInterval = Durations.parse(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Logging.configure(false);
        LatencyHistogram histogram;
        AutoCloseable running;
        int port;
        HostRegistry registry = null;
        Controller controller = null;
        if (mode.equals("real") || mode.equals("tls")) {
            Path data = dataDir != null ? dataDir : Files.createTempDirectory("vf-bench-controller");
            ControllerConfig config = ControllerConfig.of(new InetSocketAddress("127.0.0.1", requestedPort),
                    Duration.ofSeconds(1), Duration.ofSeconds(5), data).withMetricsListen(metricsListen);
            if (reconcileInterval != null) {
                config = config.withProvisioning(config.provisioning().withReconcileInterval(reconcileInterval));
            }
            controller = Controller.create(mode.equals("tls") ? config : config.withPlaintextForTests()).start();
            dataDir = data;
            histogram = controller.heartbeatLatency();
            registry = controller.registry();
            port = controller.port();
            running = controller::close;
        } else if (metricsListen != null || reconcileInterval != null) {
            throw new IllegalArgumentException("--metrics-listen and --reconcile-interval need mode tls or real, found " + mode);
        } else if (mode.equals("noop") || mode.equals("noop-direct") || mode.equals("real-direct")) {
            // The same sizes as Controller and ControllerModule choose.
            int cpus = Runtime.getRuntime().availableProcessors();
            ExecutorService executor = Executors.newFixedThreadPool(Math.max(2, cpus), r -> {
                Thread t = new Thread(r, "vf-controller-rpc");
                t.setDaemon(true);
                return t;
            });
            Executor handlers = mode.equals("noop") ? executor : Runnable::run;
            Transport transport = Transport.plaintextForTests("controller", Math.max(1, cpus));
            HeartbeatTimer timer = new HeartbeatTimer();
            List<BindableService> services;
            LivenessWatch watch = null;
            if (mode.equals("real-direct")) {
                registry = new HostRegistry();
                Liveness liveness = new Liveness(Duration.ofSeconds(5));
                watch = new LivenessWatch(registry, liveness);
                // Plaintext: no caller certificates, so no enrollment records are consulted.
                EnrolledHosts none = new EnrolledHosts(Files.createTempDirectory("vf-bench").resolve("enrolled-hosts"));
                services = List.of(new RegistryEndpoint(registry, none, Duration.ofSeconds(1), Duration.ofSeconds(5), () -> "", () -> 0),
                        new FleetEndpoint(registry, liveness, null, null, null, Runnable::run));
            } else {
                services = List.of(new NoopRegistry());
            }
            Server server = transport.startServer(new InetSocketAddress("127.0.0.1", requestedPort), handlers, services,
                    List.of(new StatusMapping()), List.of(timer), false);
            if (watch != null) {
                watch.start();
            }
            LivenessWatch startedWatch = watch;
            histogram = timer.histogram();
            port = server.getPort();
            running = () -> {
                if (startedWatch != null) {
                    startedWatch.close();
                }
                server.shutdownNow();
                executor.shutdownNow();
                transport.close();
            };
        } else {
            throw new IllegalArgumentException("mode must be tls, real, noop, noop-direct or real-direct, found " + mode);
        }
        Instant now = Instant.now();
        System.out.println("LISTENING " + port + " " + (dataDir == null ? "-" : dataDir.toAbsolutePath()) + " "
                + (now.getEpochSecond() * 1_000_000 + now.getNano() / 1000));
        System.out.flush();
        watchPauses();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null && !line.equals("quit"); line = in.readLine()) {
            if (line.equals("reset")) {
                histogram.reset();
                System.out.println("OK");
            } else if (line.equals("report")) {
                LatencyHistogram.Snapshot s = histogram.snapshot();
                int hosts = registry == null ? -1 : registry.all().size();
                System.out.printf(Locale.ROOT, "REPORT %d %d %d %d %d %d %.0f %d %d%n", s.count(),
                        s.percentileNanos(50), s.percentileNanos(90), s.percentileNanos(99), s.percentileNanos(99.9),
                        s.maxNanos(), s.meanNanos(), hosts, -1);
            } else if (line.equals("stats")) {
                System.out.println(stats());
            } else if (line.equals("metrics-port")) {
                System.out.println("METRICS-PORT " + (controller == null ? 0 : controller.metricsPort()));
            } else if (line.equals("fan-out-observed") && controller != null) {
                System.out.println("OK " + fanOutObserved(controller));
            } else {
                System.out.println("ERROR unknown command " + line);
            }
            System.out.flush();
        }
        running.close();
        System.exit(0);
    }

    /**
     * Records, for every registered host, one fan-out that found it in step at the repository's head, as the
     * controller records each host's part of a fan-out after a commit: a controller that has run for a while has the
     * per-host fan-out series in its metrics, one started for a benchmark has not (its simulated agents answer no
     * sync). Returns how many hosts.
     */
    private static int fanOutObserved(Controller controller) {
        String head = controller.vmStore().repo().headNow();
        int hosts = 0;
        for (HostRecord r : controller.registry().all()) {
            controller.metrics().fanOut(new FanOut.HostResult(r.name(), FanOut.Outcome.IN_STEP, "", head,
                    Duration.ofMillis(40)));
            hosts++;
        }
        return hosts;
    }

    /** The longest collection since the last {@code stats} command, in ms (GC notifications; -1 before any). */
    private static final java.util.concurrent.atomic.AtomicLong longestPauseMillis = new java.util.concurrent.atomic.AtomicLong();

    /** Notes each collection's duration: Serial's and Parallel's are stop-the-world pauses. */
    private static void watchPauses() {
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof javax.management.NotificationEmitter emitter) {
                emitter.addNotificationListener((notification, handback) -> {
                    if (notification.getType().equals(
                            com.sun.management.GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION)) {
                        long ms = com.sun.management.GarbageCollectionNotificationInfo.from(
                                (javax.management.openmbean.CompositeData) notification.getUserData()).getGcInfo().getDuration();
                        longestPauseMillis.accumulateAndGet(ms, Math::max);
                    }
                }, null, null);
            }
        }
    }

    /**
     * {@code STATS gc-count gc-millis pause_max_ms=N thread-id:allocated-bytes...} of this JVM (see the class
     * comment); the longest pause is since the previous {@code stats}.
     */
    private static String stats() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long collections = 0;
        long gcMillis = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            collections += Math.max(0, gc.getCollectionCount());
            gcMillis += Math.max(0, gc.getCollectionTime());
        }
        StringBuilder out = new StringBuilder("STATS ").append(collections).append(' ').append(gcMillis)
                .append(" pause_max_ms=").append(longestPauseMillis.getAndSet(0));
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        for (int i = 0; i < ids.length; i++) {
            if (bytes[i] >= 0) {
                out.append(' ').append(ids[i]).append(':').append(bytes[i]);
            }
        }
        return out.toString();
    }
}
