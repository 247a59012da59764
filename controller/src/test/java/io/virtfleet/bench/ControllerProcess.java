package io.virtfleet.bench;

import io.grpc.BindableService;
import io.grpc.Server;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.fleet.FleetEndpoint;
import io.virtfleet.controller.registry.HeartbeatTimer;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.registry.LivenessWatch;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.trust.EnrolledHosts;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The server side of the controller load benchmark, run as its own JVM so that its CPU time can be read from
 * /proc. {@code real} runs the actual {@link Controller}; {@code noop} serves {@link NoopRegistry} on the same
 * transport, executor and stream tracer the controller uses. Two experimental modes run the handlers on the
 * event loop (no hand-off to an executor thread), to show what that hand-off costs: {@code noop-direct}, and
 * {@code real-direct}, the controller's own registry, liveness watch and fleet endpoints wired as
 * {@link Controller} wires them but with a direct executor. All time heartbeats with {@link HeartbeatTimer}.
 *
 * <p>Protocol: prints {@code PORT n} once listening, then obeys lines on stdin: {@code reset} (forget the
 * histogram, answers {@code OK}), {@code report} (answers {@code REPORT count p50 p90 p99 p999 max mean hosts},
 * nanoseconds), {@code quit} or end of input (exits).
 */
public final class ControllerProcess {
    private ControllerProcess() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "real";
        Logging.configure(false);
        LatencyHistogram histogram;
        AutoCloseable running;
        int port;
        HostRegistry registry = null;
        if (mode.equals("real")) {
            Path data = Files.createTempDirectory("vf-bench-controller");
            Controller controller = Controller.create(ControllerConfig.of(new InetSocketAddress("127.0.0.1", 0),
                    Duration.ofSeconds(1), Duration.ofSeconds(5), data).withPlaintextForTests()).start();
            histogram = controller.heartbeatLatency();
            registry = controller.registry();
            port = controller.port();
            running = controller::close;
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
                services = List.of(new RegistryEndpoint(registry, none, Duration.ofSeconds(1), Duration.ofSeconds(5)),
                        new FleetEndpoint(registry, liveness, null));
            } else {
                services = List.of(new NoopRegistry());
            }
            Server server = transport.startServer(new InetSocketAddress("127.0.0.1", 0), handlers, services,
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
            throw new IllegalArgumentException("mode must be real, noop, noop-direct or real-direct, found " + mode);
        }
        System.out.println("PORT " + port);
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null && !line.equals("quit"); line = in.readLine()) {
            if (line.equals("reset")) {
                histogram.reset();
                System.out.println("OK");
            } else if (line.equals("report")) {
                LatencyHistogram.Snapshot s = histogram.snapshot();
                int hosts = registry == null ? -1 : registry.all().size();
                System.out.printf(Locale.ROOT, "REPORT %d %d %d %d %d %d %.0f %d%n", s.count(), s.percentileNanos(50),
                        s.percentileNanos(90), s.percentileNanos(99), s.percentileNanos(99.9), s.maxNanos(),
                        s.meanNanos(), hosts);
            } else {
                System.out.println("ERROR unknown command " + line);
            }
            System.out.flush();
        }
        running.close();
        System.exit(0);
    }
}
