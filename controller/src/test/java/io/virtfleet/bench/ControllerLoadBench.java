package io.virtfleet.bench;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * A controller serving 1,000 agents that heartbeat every second: its CPU and how long it takes to handle a
 * heartbeat, in several modes measured one after the other in the same run.
 *
 * <p>The controller runs as its own JVM ({@link ControllerProcess}); this JVM simulates the agents. Each
 * simulated agent registers once, then heartbeats every interval with a realistic report (5 to 10 domains);
 * start times are spread evenly over the interval. Calls are asynchronous and fired by one scheduler thread. By
 * default every simulated agent has its own {@code Transport} (one event-loop thread, one TCP connection, one
 * HTTP/2 session) exactly as a real agent builds it, so the server pays the per-connection costs it pays in
 * production. In {@code tls} mode the controller is the real secure one and every simulated agent first enrolls
 * as a real agent does (join token from the Fleet API as admin, key, CSR, {@code Enrollment/Enroll}) and then
 * talks over {@code Transport.secure} with its own certificate.
 *
 * <p>Modes: {@code noop} (no-op registry, executor hand-off: the earlier baseline), {@code real} (the controller
 * in plaintext test mode), {@code tls} (the secure controller); {@code noop-direct} and {@code real-direct} on
 * request. Measured over the window, after every connection is established and a warm-up: the server JVM's CPU
 * from /proc, the server-side heartbeat handling time from the controller's own {@code HeartbeatTimer}, the
 * round trip seen by the simulated agents, the TLS handshakes the controller completed in the window.
 */
public final class ControllerLoadBench {
    private static final double GOAL_CPU_PERCENT = 10;
    private static final double GOAL_P99_MS = 2;
    /** TLS may add at most this fraction of CPU over plaintext once connections are established. */
    private static final double GOAL_TLS_CPU_RATIO = 1.20;
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(5);
    private static final String USAGE = String.join("\n",
            "ControllerLoadBench [--agents 1000] [--interval 1s] [--modes noop,real,tls] [--warmup 20s] [--measure 60s]",
            "    [--rounds 1] [--client-loops per-agent|shared] [--channels N (shared loops only; 0 = one per agent)]",
            "    [--controller-jvm-flags \"FLAGS\"] [--classpath CP] [--work-dir DIR] [--enroll-parallelism 4]",
            "    [--extra-mode noop-direct|real-direct|...]...   (appended to --modes)",
            "    [--controller-extra-classpath CP]   (what-if: jars for the controller JVM only, e.g. netty-tcnative)",
            "  modes: noop = no-op registry behind an executor (earlier baseline); real = controller, plaintext test",
            "  mode; tls = the secure controller, each simulated agent enrolled with its own certificate;",
            "  noop-direct, real-direct = handlers on the event loop, no controller wiring (plaintext)");

    private ControllerLoadBench() {}

    /** What one run measured. */
    record Result(String mode, double seconds, long serverCpuNanos, long loadCpuNanos, ControllerChild.Report server,
                  LatencyHistogram.Snapshot client, long ok, long errors, long clientConnections) {
        double serverCpuPercent() {
            return serverCpuNanos / 1e9 / seconds * 100;
        }

        double loadCpuPercent() {
            return loadCpuNanos / 1e9 / seconds * 100;
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("agents", "interval", "channels", "warmup", "measure", "rounds",
                "controller-jvm-flags", "controller-extra-classpath", "classpath", "extra-mode", "modes",
                "client-loops", "work-dir", "enroll-parallelism"), USAGE);
        int agents = a.integer("agents", 1000);
        Duration interval = a.duration("interval", "1s");
        int channels = a.integer("channels", 0);
        Duration warmup = a.duration("warmup", "20s");
        Duration measure = a.duration("measure", "60s");
        int rounds = a.integer("rounds", 1);
        List<String> flags = Arrays.stream(a.string("controller-jvm-flags", "").trim().split("\\s+"))
                .filter(s -> !s.isEmpty()).toList();
        String classpath = a.string("classpath", System.getProperty("java.class.path"));
        // What-if: extra jars for the controller JVM only (e.g. a native TLS provider).
        String controllerClasspath = a.string("controller-extra-classpath", "").isEmpty() ? classpath
                : classpath + java.io.File.pathSeparator + a.string("controller-extra-classpath", "");
        boolean perAgent = switch (a.string("client-loops", "per-agent")) {
            case "per-agent" -> true;
            case "shared" -> false;
            default -> throw new IllegalArgumentException("--client-loops is per-agent or shared\n" + USAGE);
        };
        List<String> modes = new ArrayList<>(Arrays.stream(a.string("modes", "noop,real,tls").split(","))
                .map(String::trim).filter(m -> !m.isEmpty()).toList());
        modes.addAll(a.all("extra-mode"));
        if (!perAgent && modes.contains("tls")) {
            throw new IllegalArgumentException("tls mode needs --client-loops per-agent: each simulated agent has"
                    + " its own certificate, hence its own transport");
        }
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-load-bench");
        int enrollParallelism = a.integer("enroll-parallelism", 4);

        System.out.printf(Locale.ROOT, "controller load: %d simulated agents, heartbeat every %dms, %s, warm-up %ds,"
                        + " measured %ds, %d round(s), modes %s, %d vCPU, controller JVM flags: %s%n",
                agents, interval.toMillis(), perAgent ? "one transport (event loop + TCP connection) per agent"
                        : (channels == 0 ? "one channel per agent" : channels + " shared channels")
                        + " on one shared event loop", warmup.toSeconds(), measure.toSeconds(), rounds, modes,
                Runtime.getRuntime().availableProcessors(), flags.isEmpty() ? "(JVM defaults)" : String.join(" ", flags));
        List<Map<String, Result>> runs = new ArrayList<>();
        try {
            for (int round = 1; round <= rounds; round++) {
                Map<String, Result> results = new LinkedHashMap<>();
                for (String mode : modes) {
                    Path dir = work.resolve("round" + round + "-" + mode);
                    results.put(mode, run(mode, agents, interval, perAgent, channels, warmup, measure, flags,
                            controllerClasspath,
                            dir, enrollParallelism));
                    Bench.deleteTree(dir);
                }
                runs.add(results);
            }
        } finally {
            if (a.string("work-dir", null) == null) {
                Bench.deleteTree(work);
            }
        }
        report(runs, agents);
    }

    private static Result run(String mode, int agents, Duration interval, boolean perAgent, int channelCount,
                              Duration warmup, Duration measure, List<String> flags, String classpath, Path dir,
                              int enrollParallelism) throws Exception {
        Files.createDirectories(dir);
        System.out.printf(Locale.ROOT, "[%s] starting controller JVM%n", mode);
        boolean controllerMode = mode.equals("real") || mode.equals("tls");
        try (ControllerChild child = ControllerChild.start(mode, 0, controllerMode ? dir.resolve("controller") : null,
                flags, classpath, "controller/" + mode)) {
            try {
                List<TlsCredentials> credentials = mode.equals("tls")
                        ? SimulatedFleet.enroll(child.endpoint(), child.dataDir, agents, dir.resolve("agents"),
                                enrollParallelism)
                        : null;
                try (SimulatedFleet fleet = perAgent ? SimulatedFleet.perAgent(child.endpoint(), agents, credentials)
                        : SimulatedFleet.shared(child.endpoint(), channelCount <= 0 ? agents
                                : Math.min(channelCount, agents))) {
                    return load(mode, child, fleet, agents, interval, warmup, measure);
                }
            } catch (RuntimeException e) {
                child.keepLog();
                throw e;
            }
        }
    }

    private static Result load(String mode, ControllerChild child, SimulatedFleet fleet, int agents,
                               Duration interval, Duration warmup, Duration measure) throws Exception {
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-ticker");
            t.setDaemon(true);
            return t;
        });
        try {
            List<SimulatedAgent> sims = new ArrayList<>();
            for (int i = 0; i < agents; i++) {
                sims.add(new SimulatedAgent(i, RegistryGrpc.newStub(fleet.channel(i))));
            }
            long r0 = System.nanoTime();
            registerAll(sims);
            System.out.printf(Locale.ROOT, "[%s] %d agents connected and registered in %.1f s (%d connections);"
                            + " heartbeating, warming up %ds%n", mode, agents, (System.nanoTime() - r0) / 1e9,
                    fleet.connectionsReady.sum(), warmup.toSeconds());

            LatencyHistogram rtt = new LatencyHistogram();
            LongAdder ok = new LongAdder();
            LongAdder errors = new LongAdder();
            long period = interval.toNanos();
            for (SimulatedAgent sim : sims) {
                ticker.scheduleAtFixedRate(() -> heartbeat(sim, rtt, ok, errors), period * sim.index / agents, period,
                        TimeUnit.NANOSECONDS);
            }
            child.sleepWhileAlive(warmup);

            child.reset();
            rtt.reset();
            ok.reset();
            errors.reset();
            long connections0 = fleet.connectionsReady.sum();
            long server0 = ProcStats.cpuNanos(child.pid());
            long self0 = ProcStats.cpuNanos(-1);
            long t0 = System.nanoTime();
            child.sleepWhileAlive(measure);
            long server1 = ProcStats.cpuNanos(child.pid());
            long self1 = ProcStats.cpuNanos(-1);
            long t1 = System.nanoTime();
            ControllerChild.Report server = child.report();
            Result r = new Result(mode, (t1 - t0) / 1e9, server1 - server0, self1 - self0, server, rtt.snapshot(),
                    ok.sum(), errors.sum(), fleet.connectionsReady.sum() - connections0);
            System.out.printf(Locale.ROOT, "[%s] %.0f heartbeats/s, controller CPU %.2f%% of one core, server p99 %s,"
                            + " round trip p99 %s, %d errors%n", mode, r.ok() / r.seconds(), r.serverCpuPercent(),
                    ms(server.p99()), ms(r.client().percentileNanos(99)), r.errors());
            return r;
        } finally {
            ticker.shutdownNow();
            ticker.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static void heartbeat(SimulatedAgent sim, LatencyHistogram rtt, LongAdder ok, LongAdder errors) {
        long start = System.nanoTime();
        sim.heartbeat(CALL_DEADLINE.toMillis(), new StreamObserver<>() {
            @Override
            public void onNext(HeartbeatResponse value) {
                // nothing to keep
            }

            @Override
            public void onError(Throwable t) {
                errors.increment();
            }

            @Override
            public void onCompleted() {
                rtt.record(System.nanoTime() - start);
                ok.increment();
            }
        });
    }

    /** Registers every agent, 64 calls in flight at most; the first call on each channel connects it. */
    private static void registerAll(List<SimulatedAgent> sims) throws InterruptedException {
        Semaphore inFlight = new Semaphore(64);
        CountDownLatch done = new CountDownLatch(sims.size());
        LongAdder failed = new LongAdder();
        for (SimulatedAgent sim : sims) {
            inFlight.acquire();
            sim.register(60_000, new StreamObserver<>() {
                @Override
                public void onNext(RegisterResponse value) {
                    sim.session = value.getSessionId();
                }

                @Override
                public void onError(Throwable t) {
                    System.err.println(sim.hostName + ": register failed: " + Status.fromThrowable(t));
                    failed.increment();
                    inFlight.release();
                    done.countDown();
                }

                @Override
                public void onCompleted() {
                    inFlight.release();
                    done.countDown();
                }
            });
        }
        if (!done.await(120, TimeUnit.SECONDS) || failed.sum() > 0) {
            throw new IllegalStateException("registration failed for " + failed.sum() + " agents (or timed out)");
        }
    }

    private static void report(List<Map<String, Result>> runs, int agents) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%-6s %-11s %7s %8s %9s %9s %9s %9s %9s %9s %7s %8s %6s %6s%n", "round", "mode",
                "beats/s", "ctrlCPU", "srv p50", "srv p99", "srv p99.9", "srv max", "rtt p50", "rtt p99", "errors",
                "loadCPU", "hosts", "hshake");
        boolean cpuMet = true;
        boolean p99Met = true;
        boolean tlsMet = true;
        boolean anyTls = false;
        for (int i = 0; i < runs.size(); i++) {
            for (Result r : runs.get(i).values()) {
                ControllerChild.Report s = r.server();
                System.out.printf(Locale.ROOT, "%-6d %-11s %7.0f %7.2f%% %9s %9s %9s %9s %9s %9s %7d %7.2f%% %6s %6s%n",
                        i + 1, r.mode(), r.ok() / r.seconds(), r.serverCpuPercent(), ms(s.p50()), ms(s.p99()),
                        ms(s.p999()), ms(s.max()), ms(r.client().percentileNanos(50)),
                        ms(r.client().percentileNanos(99)), r.errors(), r.loadCpuPercent(),
                        s.hosts() < 0 ? "-" : Long.toString(s.hosts()), s.handshakes() < 0 ? "-" : s.handshakes());
                System.out.printf(Locale.ROOT, "RESULT controller-load round=%d mode=%s agents=%d window_s=%.0f"
                                + " heartbeats_per_s=%.1f server_heartbeats=%d cpu_pct=%.2f server_p50_ms=%.3f"
                                + " server_p99_ms=%.3f server_p999_ms=%.3f server_max_ms=%.3f rtt_p50_ms=%.3f"
                                + " rtt_p99_ms=%.3f errors=%d loadgen_cpu_pct=%.2f hosts=%d tls_handshakes=%d"
                                + " client_connections=%d%n",
                        i + 1, r.mode(), agents, r.seconds(), r.ok() / r.seconds(), s.heartbeats(),
                        r.serverCpuPercent(), s.p50() / 1e6, s.p99() / 1e6, s.p999() / 1e6, s.max() / 1e6,
                        r.client().percentileNanos(50) / 1e6, r.client().percentileNanos(99) / 1e6, r.errors(),
                        r.loadCpuPercent(), s.hosts(), s.handshakes(), r.clientConnections());
            }
            Map<String, Result> run = runs.get(i);
            ratio(i + 1, "real_over_noop", run.get("real"), run.get("noop"));
            ratio(i + 1, "tls_over_real", run.get("tls"), run.get("real"));
            Result real = run.get("real");
            Result tls = run.get("tls");
            for (Result r : Arrays.asList(real, tls)) {
                if (r == null) {
                    continue;
                }
                cpuMet &= r.serverCpuPercent() <= GOAL_CPU_PERCENT;
                p99Met &= r.server().p99() / 1e6 <= GOAL_P99_MS && r.errors() == 0;
            }
            if (real != null && tls != null) {
                anyTls = true;
                tlsMet &= tls.serverCpuPercent() / real.serverCpuPercent() <= GOAL_TLS_CPU_RATIO && tls.errors() == 0;
            }
        }
        System.out.printf(Locale.ROOT, "goal controller CPU <= %.0f%% of one core (real, tls): %s; goal server p99 <="
                        + " %.0f ms: %s%s%n", GOAL_CPU_PERCENT, cpuMet ? "MET" : "NOT MET", GOAL_P99_MS,
                p99Met ? "MET" : "NOT MET", anyTls ? String.format(Locale.ROOT,
                        "; goal TLS CPU <= %.2f x plaintext: %s", GOAL_TLS_CPU_RATIO, tlsMet ? "MET" : "NOT MET") : "");
        System.out.println("srv = server side, inside the controller JVM, from the call's headers arriving to its stream"
                + " closing; rtt = round trip seen by the simulated agent; ctrlCPU / loadCPU = utime+stime of the"
                + " controller / load-generator JVM over the window, % of one core; hshake = TLS handshakes the"
                + " controller completed in the window (JFR jdk.TLSHandshake).");
    }

    private static void ratio(int round, String name, Result a, Result b) {
        if (a == null || b == null) {
            return;
        }
        System.out.printf(Locale.ROOT, "RATIO controller-load round=%d cpu_%s=%.2f server_p99_%s=%.2f"
                        + " rtt_p99_%s=%.2f%n", round, name, a.serverCpuPercent() / b.serverCpuPercent(), name,
                (double) a.server().p99() / b.server().p99(), name,
                (double) a.client().percentileNanos(99) / b.client().percentileNanos(99));
    }

    static String ms(long nanos) {
        return String.format(Locale.ROOT, "%.3fms", nanos / 1e6);
    }
}
