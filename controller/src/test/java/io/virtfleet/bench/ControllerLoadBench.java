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
import java.util.EnumMap;
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
            "ControllerLoadBench [--agents 1000] [--interval 1s] [--modes noop,real,tls] [--warmup 40s] [--max-warmup 180s]",
            "    [--windows 5] [--measure 20s] [--rounds 1] [--client-loops per-agent|shared]",
            "    [--channels N (shared loops only; 0 = one per agent)] [--baseline-classpath CP]",
            "    [--controller-jvm-flags \"FLAGS\"] [--classpath CP] [--work-dir DIR] [--enroll-parallelism 4]",
            "    [--extra-mode noop-direct|real-direct|...]...   (appended to --modes)",
            "    [--controller-extra-classpath CP]   (what-if: jars for the controller JVM only, e.g. netty-tcnative)",
            "  modes: noop = no-op registry behind an executor (earlier baseline); real = controller, plaintext test",
            "  mode; tls = the secure controller, each simulated agent enrolled with its own certificate;",
            "  noop-direct, real-direct = handlers on the event loop, no controller wiring (plaintext);",
            "  MODE@base (e.g. real@base, tls@base) = that mode with the controller JVM on --baseline-classpath (an",
            "  older build's classes put behind this build's test classes), measured in the same run;",
            "  MODE@alt = that mode with the controller JVM on --alt-controller-jvm-flags instead of --controller-jvm-flags",
            "  Warm-up: --warmup, then on until the controller's JIT threads use <= 1 % of a core (--max-warmup at most);",
            "  then --windows windows of --measure each; the summary gives median and spread over all windows.");

    private ControllerLoadBench() {}

    /**
     * What one measured window saw: the controller's CPU (whole process, and by kind of thread), what it
     * allocated and collected, its heartbeat handling times, the round trips and errors the agents saw.
     *
     * @param warmupSeconds how long the warm-up before this round's windows took (negative: JIT still busy)
     * @param handshakes    TLS handshakes completed in the window, counted by the simulated agents (-1: not counted)
     */
    record Window(String mode, int round, int number, long warmupSeconds, double seconds, long cpuNanos,
                  Map<ProcStats.ThreadKind, Long> threadCpu, long allocatedBytes, long collections,
                  long longestPauseMillis, long loadCpuNanos,
                  ControllerChild.Report server, LatencyHistogram.Snapshot client, long ok, long errors, long handshakes,
                  long clientConnections) {
        double cpuPercent() {
            return cpuNanos / 1e9 / seconds * 100;
        }

        double loadCpuPercent() {
            return loadCpuNanos / 1e9 / seconds * 100;
        }

        double kindPercent(ProcStats.ThreadKind kind) {
            return threadCpu.get(kind) / 1e9 / seconds * 100;
        }

        /** Heartbeats the controller handled in the window (its own count; the agents' if it has none). */
        long heartbeats() {
            return server.heartbeats() > 0 ? server.heartbeats() : ok;
        }

        /** The controller's CPU time per heartbeat handled: what load it can carry, less sensitive to noise. */
        double cpuMicrosPerHeartbeat() {
            return cpuNanos / 1e3 / Math.max(1, heartbeats());
        }

        double kindMicrosPerHeartbeat(ProcStats.ThreadKind kind) {
            return threadCpu.get(kind) / 1e3 / Math.max(1, heartbeats());
        }

        /** Bytes allocated per heartbeat, -1 if the controller process cannot tell. */
        double allocatedPerHeartbeat() {
            return allocatedBytes < 0 ? -1 : (double) allocatedBytes / Math.max(1, heartbeats());
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("agents", "interval", "channels", "warmup", "max-warmup", "windows",
                "measure", "rounds", "controller-jvm-flags", "controller-extra-classpath", "classpath", "extra-mode",
                "modes", "client-loops", "work-dir", "enroll-parallelism", "baseline-classpath", "alt-controller-jvm-flags"), USAGE);
        int agents = a.integer("agents", 1000);
        Duration interval = a.duration("interval", "1s");
        int channels = a.integer("channels", 0);
        Duration warmup = a.duration("warmup", "40s");
        Duration maxWarmup = a.duration("max-warmup", "180s");
        int windows = a.integer("windows", 5);
        Duration measure = a.duration("measure", "20s");
        String baselineClasspath = a.string("baseline-classpath", "");
        List<String> altFlags = Arrays.stream(a.string("alt-controller-jvm-flags", "").trim().split("\\s+"))
                .filter(f -> !f.isEmpty()).toList();
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

        if (modes.stream().anyMatch(m -> m.endsWith("@base")) && baselineClasspath.isEmpty()) {
            throw new IllegalArgumentException("a mode ending in @base needs --baseline-classpath\n" + USAGE);
        }
        System.out.printf(Locale.ROOT, "controller load: %d simulated agents, heartbeat every %dms, %s, warm-up %ds"
                        + " then until the JIT is done (%ds at most), %d window(s) of %ds, %d round(s), modes %s, %d vCPU,"
                        + " controller JVM flags: %s%s; report %d bytes serialized on average (%d-%d)%n",
                agents, interval.toMillis(), perAgent ? "one transport (event loop + TCP connection) per agent"
                        : (channels == 0 ? "one channel per agent" : channels + " shared channels")
                        + " on one shared event loop", warmup.toSeconds(), maxWarmup.toSeconds(), windows,
                measure.toSeconds(), rounds, modes, Runtime.getRuntime().availableProcessors(),
                flags.isEmpty() ? "(JVM defaults)" : String.join(" ", flags), modes.stream().anyMatch(m -> m.endsWith("@alt"))
                        ? ", @alt modes: " + (altFlags.isEmpty() ? "(JVM defaults)" : String.join(" ", altFlags)) : "",
                reportBytes(agents, 0),
                reportBytes(agents, -1), reportBytes(agents, 1));
        List<Window> all = new ArrayList<>();
        try (HandshakeCounter handshakes = HandshakeCounter.start()) {
            for (int round = 1; round <= rounds; round++) {
                for (String mode : modes) {
                    Path dir = work.resolve("round" + round + "-" + mode.replace('@', '-'));
                    all.addAll(run(mode, agents, interval, perAgent, channels, warmup, maxWarmup, windows, measure,
                            mode.endsWith("@alt") ? altFlags : flags,
                            mode.endsWith("@base") ? baselineClasspath : controllerClasspath, dir,
                            enrollParallelism, round, handshakes));
                    Bench.deleteTree(dir);
                }
            }
        } finally {
            if (a.string("work-dir", null) == null) {
                Bench.deleteTree(work);
            }
        }
        report(all, agents, modes);
    }

    private static List<Window> run(String mode, int agents, Duration interval, boolean perAgent, int channelCount,
                                    Duration warmup, Duration maxWarmup, int windows, Duration measure,
                                    List<String> flags, String classpath, Path dir, int enrollParallelism, int round,
                                    HandshakeCounter handshakes) throws Exception {
        Files.createDirectories(dir);
        System.out.printf(Locale.ROOT, "[%s] starting controller JVM%n", mode);
        String processMode = baseMode(mode);
        boolean controllerMode = processMode.equals("real") || processMode.equals("tls");
        try (ControllerChild child = ControllerChild.start(processMode, 0, controllerMode ? dir.resolve("controller") : null,
                flags, classpath, "controller/" + mode)) {
            try {
                List<TlsCredentials> credentials = processMode.equals("tls")
                        ? SimulatedFleet.enroll(child.endpoint(), child.dataDir, agents, dir.resolve("agents"),
                                enrollParallelism)
                        : null;
                try (SimulatedFleet fleet = perAgent ? SimulatedFleet.perAgent(child.endpoint(), agents, credentials)
                        : SimulatedFleet.shared(child.endpoint(), channelCount <= 0 ? agents
                                : Math.min(channelCount, agents))) {
                    return load(mode, round, child, fleet, agents, interval, warmup, maxWarmup, windows, measure,
                            handshakes);
                }
            } catch (RuntimeException e) {
                child.keepLog();
                throw e;
            }
        }
    }

    /** The mode a controller process runs: a mode without its {@code @base} suffix. */
    static String baseMode(String mode) {
        int at = mode.indexOf('@');
        return at < 0 ? mode : mode.substring(0, at);
    }

    private static List<Window> load(String mode, int round, ControllerChild child, SimulatedFleet fleet, int agents,
                                     Duration interval, Duration warmup, Duration maxWarmup, int windows,
                                     Duration measure, HandshakeCounter handshakes) throws Exception {
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
            LatencyHistogram rtt = new LatencyHistogram();
            LongAdder ok = new LongAdder();
            LongAdder errors = new LongAdder();
            heartbeatEvery(interval, sims, ticker, rtt, ok, errors);
            long r0 = System.nanoTime();
            registerAll(sims);
            System.out.printf(Locale.ROOT, "[%s] %d agents connected and registered in %.1f s (%d connections);"
                            + " heartbeating, warming up %ds at least, %ds at most%n", mode, agents,
                    (System.nanoTime() - r0) / 1e9, fleet.connectionsReady.sum(), warmup.toSeconds(),
                    maxWarmup.toSeconds());
            long warmupSeconds = settle(mode, child, warmup, maxWarmup);

            List<Window> out = new ArrayList<>();
            for (int w = 1; w <= windows; w++) {
                child.reset();
                rtt.reset();
                ok.reset();
                errors.reset();
                handshakes.reset();
                long connections0 = fleet.connectionsReady.sum();
                ControllerChild.Stats stats0 = child.stats();
                Map<ProcStats.ThreadKind, Long> threads0 = ProcStats.threadCpuNanos(child.pid());
                long server0 = ProcStats.cpuNanos(child.pid());
                long self0 = ProcStats.cpuNanos(-1);
                long t0 = System.nanoTime();
                child.sleepWhileAlive(measure);
                long server1 = ProcStats.cpuNanos(child.pid());
                long self1 = ProcStats.cpuNanos(-1);
                long t1 = System.nanoTime();
                Map<ProcStats.ThreadKind, Long> threads1 = ProcStats.threadCpuNanos(child.pid());
                ControllerChild.Stats stats1 = child.stats();
                ControllerChild.Report server = child.report();
                Map<ProcStats.ThreadKind, Long> threadCpu = new EnumMap<>(ProcStats.ThreadKind.class);
                threads1.forEach((k, v) -> threadCpu.put(k, v - threads0.getOrDefault(k, 0L)));
                // "Other" is what the process used beyond the named kinds: a thread that ended in the window (the
                // enrollment worker, say) took its own count with it, but the process's total keeps it.
                threadCpu.put(ProcStats.ThreadKind.OTHER, Math.max(0, server1 - server0
                        - threadCpu.get(ProcStats.ThreadKind.EVENT_LOOP) - threadCpu.get(ProcStats.ThreadKind.JIT)
                        - threadCpu.get(ProcStats.ThreadKind.GC)));
                Window r = new Window(mode, round, w, warmupSeconds, (t1 - t0) / 1e9, server1 - server0, threadCpu,
                        stats0 == null || stats1 == null ? -1 : stats1.allocatedSince(stats0),
                        stats0 == null || stats1 == null ? -1 : stats1.collections() - stats0.collections(),
                        stats1 == null ? -1 : stats1.longestPauseMillis(), self1 - self0, server, rtt.snapshot(), ok.sum(), errors.sum(),
                        baseMode(mode).equals("tls") ? handshakes.count() : -1,
                        fleet.connectionsReady.sum() - connections0);
                System.out.printf(Locale.ROOT, "[%s] window %d: %.0f heartbeats/s, controller CPU %.2f%% of one core"
                                + " (%.1f us per heartbeat; event loops %.1f us, JIT %.2f%%, GC %.2f%%), %s allocated per"
                                + " heartbeat, server p99 %s, round trip p99 %s, %d errors%n", mode, w,
                        r.ok() / r.seconds(), r.cpuPercent(), r.cpuMicrosPerHeartbeat(),
                        r.kindMicrosPerHeartbeat(ProcStats.ThreadKind.EVENT_LOOP),
                        r.kindPercent(ProcStats.ThreadKind.JIT), r.kindPercent(ProcStats.ThreadKind.GC),
                        r.allocatedPerHeartbeat() < 0 ? "-" : String.format(Locale.ROOT, "%.1f KiB",
                                r.allocatedPerHeartbeat() / 1024), ms(server.p99()), ms(r.client().percentileNanos(99)),
                        r.errors());
                out.add(r);
            }
            return out;
        } finally {
            ticker.shutdownNow();
            ticker.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /**
     * Waits {@code warmup}, then on in slices of 5 s until the controller's JIT compilers are done (their threads
     * used at most 1 % of a core over the last slice) or {@code maxWarmup} has passed; a window measured while C2
     * still compiles reads several % of a core too high, and by a different amount in every run. Returns the
     * warm-up's length in seconds, negative when the compilers were still busy at {@code maxWarmup}.
     */
    static long settle(String mode, ControllerChild child, Duration warmup, Duration maxWarmup)
            throws Exception {
        long start = System.nanoTime();
        child.sleepWhileAlive(warmup);
        Duration slice = Duration.ofSeconds(5);
        while (true) {
            Map<ProcStats.ThreadKind, Long> before = ProcStats.threadCpuNanos(child.pid());
            long cpu0 = ProcStats.cpuNanos(child.pid());
            long t0 = System.nanoTime();
            child.sleepWhileAlive(slice);
            long nanos = System.nanoTime() - t0;
            Map<ProcStats.ThreadKind, Long> after = ProcStats.threadCpuNanos(child.pid());
            double jit = (after.get(ProcStats.ThreadKind.JIT) - before.get(ProcStats.ThreadKind.JIT)) * 100.0 / nanos;
            double gc = (after.get(ProcStats.ThreadKind.GC) - before.get(ProcStats.ThreadKind.GC)) * 100.0 / nanos;
            double all = (ProcStats.cpuNanos(child.pid()) - cpu0) * 100.0 / nanos;
            long elapsed = (System.nanoTime() - start) / 1_000_000_000L;
            System.out.printf(Locale.ROOT, "[%s] warm-up %3d s: controller CPU %.1f%% (JIT %.1f%%, GC %.1f%%)%n", mode,
                    elapsed, all, jit, gc);
            if (jit <= 1.0) {
                return elapsed;
            }
            if (elapsed >= maxWarmup.toSeconds()) {
                System.out.printf(Locale.ROOT, "[%s] JIT still busy after %d s: measuring anyway%n", mode, elapsed);
                return -elapsed;
            }
        }
    }

    /**
     * Has every agent heartbeat every {@code interval} on {@code ticker}, in its own slot of the interval (agent i of
     * n at i/n of it), from the moment it is registered, as a real one does: the controller's periodic passes never
     * see registered hosts that have not heartbeaten yet. Counts the heartbeats answered and failed, times the round trips.
     */
    static void heartbeatEvery(Duration interval, List<SimulatedAgent> sims, ScheduledExecutorService ticker,
                               LatencyHistogram rtt, LongAdder ok, LongAdder errors) {
        long period = interval.toNanos();
        for (SimulatedAgent sim : sims) {
            ticker.scheduleAtFixedRate(() -> {
                if (sim.session != null) {
                    heartbeat(sim, rtt, ok, errors);
                }
            }, period * sim.index / sims.size(), period, TimeUnit.NANOSECONDS);
        }
    }

    private static void heartbeat(SimulatedAgent sim, LatencyHistogram rtt, LongAdder ok, LongAdder errors) {
        long start = System.nanoTime();
        sim.heartbeat(CALL_DEADLINE.toMillis(), new StreamObserver<>() {
            @Override
            public void onNext(HeartbeatResponse value) {
                sim.desiredCommit(value.getDesiredDefinitionsCommit());
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
    static void registerAll(List<SimulatedAgent> sims) throws InterruptedException {
        Semaphore inFlight = new Semaphore(64);
        CountDownLatch done = new CountDownLatch(sims.size());
        LongAdder failed = new LongAdder();
        for (SimulatedAgent sim : sims) {
            inFlight.acquire();
            sim.register(60_000, new StreamObserver<>() {
                @Override
                public void onNext(RegisterResponse value) {
                    sim.session = value.getSessionId();
                    sim.desiredCommit(value.getDesiredDefinitionsCommit());
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

    private static void report(List<Window> all, int agents, List<String> modes) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%-5s %-10s %3s %7s %8s %8s %8s %7s %7s %8s %9s %9s %9s %6s %8s %6s %6s%n",
                "round", "mode", "win", "beats/s", "ctrlCPU", "us/beat", "loop us", "JIT", "GC", "KiB/beat",
                "srv p50", "srv p99", "rtt p99", "errors", "loadCPU", "hosts", "hshake");
        for (Window r : all) {
            ControllerChild.Report s = r.server();
            System.out.printf(Locale.ROOT, "%-5d %-10s %3d %7.0f %7.2f%% %8.1f %8.1f %6.2f%% %6.2f%% %8s %9s %9s %9s %6d"
                            + " %7.2f%% %6s %6s%n", r.round(), r.mode(), r.number(), r.ok() / r.seconds(),
                    r.cpuPercent(), r.cpuMicrosPerHeartbeat(), r.kindMicrosPerHeartbeat(ProcStats.ThreadKind.EVENT_LOOP),
                    r.kindPercent(ProcStats.ThreadKind.JIT), r.kindPercent(ProcStats.ThreadKind.GC),
                    r.allocatedPerHeartbeat() < 0 ? "-" : String.format(Locale.ROOT, "%.1f", r.allocatedPerHeartbeat() / 1024),
                    ms(s.p50()), ms(s.p99()), ms(r.client().percentileNanos(99)), r.errors(), r.loadCpuPercent(),
                    s.hosts() < 0 ? "-" : Long.toString(s.hosts()), r.handshakes() < 0 ? "-" : Long.toString(r.handshakes()));
            System.out.printf(Locale.ROOT, "RESULT controller-load round=%d mode=%s window=%d agents=%d warmup_s=%d"
                            + " window_s=%.0f heartbeats_per_s=%.1f server_heartbeats=%d cpu_pct=%.2f cpu_us_per_heartbeat=%.2f"
                            + " event_loop_us_per_heartbeat=%.2f jit_pct=%.2f gc_pct=%.2f other_pct=%.2f"
                            + " allocated_bytes_per_heartbeat=%.0f collections=%d gc_max_pause_ms=%d server_p50_ms=%.3f"
                            + " server_p99_ms=%.3f"
                            + " server_p999_ms=%.3f server_max_ms=%.3f rtt_p50_ms=%.3f rtt_p99_ms=%.3f errors=%d"
                            + " loadgen_cpu_pct=%.2f hosts=%d tls_handshakes=%d client_connections=%d%n",
                    r.round(), r.mode(), r.number(), agents, r.warmupSeconds(), r.seconds(), r.ok() / r.seconds(),
                    s.heartbeats(), r.cpuPercent(), r.cpuMicrosPerHeartbeat(),
                    r.kindMicrosPerHeartbeat(ProcStats.ThreadKind.EVENT_LOOP), r.kindPercent(ProcStats.ThreadKind.JIT),
                    r.kindPercent(ProcStats.ThreadKind.GC), r.kindPercent(ProcStats.ThreadKind.OTHER),
                    r.allocatedPerHeartbeat(), r.collections(), r.longestPauseMillis(), s.p50() / 1e6, s.p99() / 1e6, s.p999() / 1e6,
                    s.max() / 1e6, r.client().percentileNanos(50) / 1e6, r.client().percentileNanos(99) / 1e6,
                    r.errors(), r.loadCpuPercent(), s.hosts(), r.handshakes(), r.clientConnections());
        }
        System.out.println("srv = server side, inside the controller JVM, from the call's headers arriving to its stream"
                + " closing; rtt = round trip seen by the simulated agent; ctrlCPU / loadCPU = utime+stime of the"
                + " controller / load-generator JVM over the window, % of one core; us/beat = controller CPU time per"
                + " heartbeat handled; loop us = the same, event-loop threads only; JIT, GC = CPU of the compiler threads,"
                + " of the collector's threads and VM thread; KiB/beat = bytes the controller allocated per heartbeat;"
                + " hshake = TLS handshakes completed in the window, counted on the agents' side.");

        System.out.println();
        Summary summary = new Summary("controller under load: " + agents + " agents heartbeating at 1 Hz");
        Map<String, List<Window>> byMode = new LinkedHashMap<>();
        for (String mode : modes) {
            byMode.put(mode, all.stream().filter(w -> w.mode().equals(mode)).toList());
        }
        for (Map.Entry<String, List<Window>> e : byMode.entrySet()) {
            String mode = e.getKey();
            List<Window> ws = e.getValue();
            boolean controller = baseMode(mode).equals("real") || baseMode(mode).equals("tls");
            summary.add(mode, "controller CPU, % of one core", ws.stream().mapToDouble(Window::cpuPercent),
                    controller ? Summary.atMost(GOAL_CPU_PERCENT) : null);
            summary.add(mode, "  CPU per heartbeat, us", ws.stream().mapToDouble(Window::cpuMicrosPerHeartbeat), null);
            summary.add(mode, "  event loops per heartbeat, us",
                    ws.stream().mapToDouble(w -> w.kindMicrosPerHeartbeat(ProcStats.ThreadKind.EVENT_LOOP)), null);
            summary.add(mode, "  JIT, % of one core", ws.stream().mapToDouble(w -> w.kindPercent(ProcStats.ThreadKind.JIT)), null);
            summary.add(mode, "  GC + VM thread, % of one core",
                    ws.stream().mapToDouble(w -> w.kindPercent(ProcStats.ThreadKind.GC)), null);
            summary.add(mode, "  other threads, % of one core",
                    ws.stream().mapToDouble(w -> w.kindPercent(ProcStats.ThreadKind.OTHER)), null);
            if (ws.stream().allMatch(w -> w.allocatedBytes() >= 0)) {
                summary.add(mode, "  allocated per heartbeat, KiB",
                        ws.stream().mapToDouble(w -> w.allocatedPerHeartbeat() / 1024), null);
            }
            if (ws.stream().allMatch(w -> w.longestPauseMillis() >= 0)) {
                summary.add(mode, "  longest GC pause in a window, ms",
                        ws.stream().mapToDouble(Window::longestPauseMillis), null);
            }
            summary.add(mode, "server p99, ms", ws.stream().mapToDouble(w -> w.server().p99() / 1e6),
                    controller ? Summary.atMost(GOAL_P99_MS) : null);
            summary.add(mode, "round-trip p99, ms", ws.stream().mapToDouble(w -> w.client().percentileNanos(99) / 1e6), null);
            summary.add(mode, "errors (sum)", java.util.stream.DoubleStream.of(ws.stream().mapToLong(Window::errors).sum()),
                    controller ? Summary.atMost(0) : null);
            if (baseMode(mode).equals("tls")) {
                summary.add(mode, "TLS handshakes in windows (sum)", java.util.stream.DoubleStream.of(
                        ws.stream().mapToLong(Window::handshakes).sum()), null);
            }
        }
        for (String[] pair : new String[][] {{"tls", "real"}, {"tls@base", "real@base"}, {"tls@alt", "real@alt"}}) {
            List<Window> tls = byMode.get(pair[0]);
            List<Window> real = byMode.get(pair[1]);
            if (tls != null && real != null && !tls.isEmpty() && !real.isEmpty()) {
                summary.add(pair[0] + "/" + pair[1], "CPU ratio (medians)", java.util.stream.DoubleStream.of(
                        Summary.median(tls.stream().mapToDouble(Window::cpuPercent))
                                / Summary.median(real.stream().mapToDouble(Window::cpuPercent))),
                        Summary.atMost(GOAL_TLS_CPU_RATIO));
            }
        }
        for (String mode : modes) {
            List<Window> base = byMode.get(mode + "@base") != null ? byMode.get(mode + "@base") : byMode.get(mode + "@alt");
            String baseName = byMode.get(mode + "@base") != null ? mode + "@base" : mode + "@alt";
            if (base != null && !base.isEmpty() && byMode.get(mode) != null) {
                summary.add(mode + "/" + baseName, "CPU per heartbeat ratio (medians)",
                        java.util.stream.DoubleStream.of(Summary.median(byMode.get(mode).stream()
                                .mapToDouble(Window::cpuMicrosPerHeartbeat))
                                / Summary.median(base.stream().mapToDouble(Window::cpuMicrosPerHeartbeat))), null);
            }
        }
        summary.print();
    }

    /** Mean, smallest and largest serialized size of the simulated agents' heartbeat reports (which = 0, -1, 1). */
    private static long reportBytes(int agents, int which) {
        java.util.LongSummaryStatistics sizes = new java.util.LongSummaryStatistics();
        for (int i = 0; i < agents; i++) {
            sizes.accept(SimulatedAgent.report(i).toBuilder().setSyncedCommit("0".repeat(40)).build().getSerializedSize());
        }
        return which == 0 ? Math.round(sizes.getAverage()) : which < 0 ? sizes.getMin() : sizes.getMax();
    }

    static String ms(long nanos) {
        return String.format(Locale.ROOT, "%.3fms", nanos / 1e6);
    }
}
