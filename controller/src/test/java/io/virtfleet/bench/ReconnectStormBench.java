package io.virtfleet.bench;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.retry.Backoff;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;

/**
 * Reconnect storm: 1,000 agents connected to a controller that is killed and started again on the same port
 * and data directory (same fleet CA, same enrolled hosts), as a crash or a restart would. Goal: every agent is
 * registered and heartbeating again within 10 s of the new controller accepting connections.
 *
 * <p>Each simulated agent behaves as {@code ControllerLink} does: register, then heartbeat every interval, each
 * call waiting (within its 5 s deadline) for the channel to connect; a call that timed out while the channel
 * was still connecting is re-issued after at most 0.5 s of jitter, and while the channel cannot connect a new
 * connection attempt is made every 1–2 s; other failures wait the capped, jittered {@link Backoff} the real agent uses (first step =
 * heartbeat interval, cap = {@code --max-backoff}, the agent's default 30 s), except that FAILED_PRECONDITION
 * ("unknown session", the new controller does not know it) drops the session and registers again at once.
 * {@code --link fail-fast} runs the link as it was before (calls fail at once while the channel is down, every
 * failure grows the backoff), for comparison. Its channel is the one
 * the real agent has ({@code Transport.secure(..., 1, its own credentials)}, or plaintext), which reconnects by
 * itself with gRPC's own connection backoff. In {@code tls} mode every agent was enrolled first, as real agents
 * are; the restarted controller loads the same CA and issues itself a new certificate, so every reconnection is
 * a full TLS 1.3 handshake with client certificate. The same storm against the controller in plaintext test
 * mode ({@code real}) is the baseline.
 *
 * <p>Reported per storm: downtime (kill to listening), per-agent time from the new controller listening to
 * registered and to the first heartbeat accepted (p50, p99, max; the max is the total), the controller's CPU
 * during the storm and over a fixed window, the TLS handshakes completed with it (counted by the agents' side), the connections the
 * agents established and the connection attempts that failed, and the server-side heartbeat handling time
 * while the storm lasted.
 */
public final class ReconnectStormBench {
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(5); // ControllerLink's
    private static final double GOAL_SECONDS = 10;
    private static final String USAGE = String.join("\n",
            "ReconnectStormBench [--agents 1000] [--modes real,tls] [--storms 1] [--settle 10s] [--window 10s]",
            "    [--timeout 60s] [--interval 1s] [--max-backoff 30s] [--controller-jvm-flags \"FLAGS\"] [--classpath CP]",
            "    [--work-dir DIR] [--enroll-parallelism 8] [--link waiting] [--controller-extra-classpath CP]",
            "  real = controller in plaintext test mode (baseline); tls = the secure controller, agents enrolled",
            "  --link waiting: agents' calls wait for the channel as ControllerLink's do; fail-fast: the earlier",
            "  link (calls fail at once while the channel reconnects, every failure doubles the backoff);",
            "  --controller-extra-classpath: what-if, jars added to the controller JVM only (e.g. netty-tcnative)");

    private ReconnectStormBench() {}

    /** What one storm measured; times in nanoseconds. */
    record Storm(String mode, int number, int agents, long downtime, long[] connected, long[] registered, long[] back,
                 int missing,
                 long startupCpu, long stormCpu, long stormSpan, long windowCpu, long window, long loadCpu,
                 ControllerChild.Report server, long handshakes, long connections, long failedConnections,
                 long attempts, Map<String, Long> errors) {
        long total() {
            return back.length == 0 ? -1 : back[back.length - 1];
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("agents", "modes", "storms", "settle", "window", "timeout",
                "interval", "max-backoff", "link", "controller-jvm-flags", "controller-extra-classpath",
                "classpath", "work-dir", "enroll-parallelism"),
                USAGE);
        int agents = a.integer("agents", 1000);
        List<String> modes = Arrays.stream(a.string("modes", "real,tls").split(",")).map(String::trim)
                .filter(m -> !m.isEmpty()).toList();
        int storms = a.integer("storms", 1);
        Duration settle = a.duration("settle", "10s");
        Duration window = a.duration("window", "10s");
        Duration timeout = a.duration("timeout", "60s");
        Duration interval = a.duration("interval", "1s");
        Duration maxBackoff = a.duration("max-backoff", "30s");
        List<String> flags = Arrays.stream(a.string("controller-jvm-flags", "").trim().split("\\s+"))
                .filter(s -> !s.isEmpty()).toList();
        String classpath = a.string("classpath", System.getProperty("java.class.path"));
        // What-if: extra jars for the controller JVM only (e.g. a native TLS provider).
        String controllerClasspath = a.string("controller-extra-classpath", "").isEmpty() ? classpath
                : classpath + java.io.File.pathSeparator + a.string("controller-extra-classpath", "");
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-storm-bench");
        int enrollParallelism = a.integer("enroll-parallelism", 8);
        String link = a.string("link", "waiting");
        if (!link.equals("waiting") && !link.equals("fail-fast")) {
            throw new IllegalArgumentException("--link: expected waiting or fail-fast, got " + link);
        }
        boolean waitForReady = link.equals("waiting");
        for (String mode : modes) {
            if (!mode.equals("real") && !mode.equals("tls")) {
                throw new IllegalArgumentException("modes are real and tls, found " + mode + "\n" + USAGE);
            }
        }

        System.out.printf(Locale.ROOT, "reconnect storm: %d simulated agents (one transport each), heartbeat %dms,"
                        + " agent backoff %dms..%ds with ±20%% jitter, %d storm(s) per mode, modes %s, settle %ds,"
                        + " CPU window %ds, timeout %ds, %d vCPU, controller JVM flags: %s%s%n",
                agents, interval.toMillis(), interval.toMillis(), maxBackoff.toSeconds(), storms, modes,
                settle.toSeconds(), window.toSeconds(), timeout.toSeconds(), Runtime.getRuntime().availableProcessors(),
                flags.isEmpty() ? "(JVM defaults)" : String.join(" ", flags),
                waitForReady ? "" : "; link: fail-fast (earlier behaviour)");
        List<Storm> results = new ArrayList<>();
        try (HandshakeCounter handshakes = HandshakeCounter.start()) {
            for (String mode : modes) {
                Path dir = work.resolve(mode);
                Files.createDirectories(dir);
                results.addAll(run(mode, agents, storms, settle, window, timeout, interval, maxBackoff, flags,
                        controllerClasspath, dir, enrollParallelism, waitForReady, handshakes));
                Bench.deleteTree(dir);
            }
        } finally {
            if (a.string("work-dir", null) == null) {
                Bench.deleteTree(work);
            }
        }
        report(results);
    }

    private static List<Storm> run(String mode, int agents, int storms, Duration settle, Duration window,
                                   Duration timeout, Duration interval, Duration maxBackoff, List<String> flags,
                                   String classpath, Path dir, int enrollParallelism, boolean waitForReady,
                                   HandshakeCounter handshakes) throws Exception {
        List<Storm> out = new ArrayList<>();
        System.out.printf(Locale.ROOT, "[%s] starting controller JVM%n", mode);
        ControllerChild child = ControllerChild.start(mode, 0, dir.resolve("controller"), flags, classpath,
                "controller/" + mode);
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-agent-loops");
            t.setDaemon(true);
            return t;
        });
        List<AgentLoop> loops = new ArrayList<>();
        SimulatedFleet fleet = null;
        try {
            List<TlsCredentials> credentials = mode.equals("tls")
                    ? SimulatedFleet.enroll(child.endpoint(), child.dataDir, agents, dir.resolve("agents"),
                            enrollParallelism)
                    : null;
            fleet = SimulatedFleet.perAgent(child.endpoint(), agents, credentials);
            for (int i = 0; i < agents; i++) {
                RegistryGrpc.RegistryStub stub = RegistryGrpc.newStub(fleet.channel(i));
                AgentLoop loop = new AgentLoop(new SimulatedAgent(i, waitForReady ? stub.withWaitForReady() : stub), ticker,
                        interval, maxBackoff, waitForReady ? fleet.channel(i) : null);
                loops.add(loop);
                loop.start(interval.toNanos() * i / agents);
            }
            long t0 = System.nanoTime();
            waitUntil(child, Duration.ofSeconds(120), () -> loops.stream().allMatch(l -> l.beatsOk > 0),
                    "every agent heartbeating");
            System.out.printf(Locale.ROOT, "[%s] %d agents connected, registered and heartbeating after %.1f s;"
                    + " settling %ds%n", mode, agents, (System.nanoTime() - t0) / 1e9, settle.toSeconds());
            for (int n = 1; n <= storms; n++) {
                child.sleepWhileAlive(settle);
                long ready0 = fleet.connectionsReady.sum();
                long failed0 = fleet.connectionsFailed.sum();
                Map<String, LongAdder> errors = new ConcurrentHashMap<>();
                AgentLoop.listeningAt = 0;
                for (AgentLoop loop : loops) {
                    loop.beginStorm(errors);
                }
                long self0 = ProcStats.cpuNanos(-1);
                handshakes.reset();
                long killedAt = System.nanoTime();
                child.kill();
                child = ControllerChild.start(mode, child.port, child.dataDir, flags, classpath,
                        "controller/" + mode + "/restart" + n);
                long listening = child.listeningAtNanos;
                AgentLoop.listeningAt = listening;
                long startupCpu = ProcStats.cpuNanos(child.pid());
                long windowEnd = listening + window.toNanos();
                long deadline = listening + timeout.toNanos();
                long windowCpu = -1;
                long allBackAt = -1;
                long cpuAllBack = -1;
                while (System.nanoTime() < deadline && (allBackAt < 0 || windowCpu < 0)) {
                    child.requireAlive();
                    Thread.sleep(10);
                    long now = System.nanoTime();
                    if (windowCpu < 0 && now >= windowEnd) {
                        windowCpu = ProcStats.cpuNanos(child.pid()) - startupCpu;
                    }
                    if (allBackAt < 0 && loops.stream().allMatch(l -> l.stormBackAt >= 0)) {
                        cpuAllBack = ProcStats.cpuNanos(child.pid()) - startupCpu;
                        allBackAt = now;
                    }
                }
                long self1 = ProcStats.cpuNanos(-1);
                Thread.sleep(1500); // the flight recorder delivers events about once a second
                ControllerChild.Report server = child.report();
                List<Long> registered = new ArrayList<>();
                List<Long> back = new ArrayList<>();
                List<Long> connected = new ArrayList<>();
                long attempts = 0;
                for (int i = 0; i < loops.size(); i++) {
                    AgentLoop loop = loops.get(i);
                    long ready = fleet.readyAt(i);
                    if (ready > killedAt) {
                        connected.add(ready - listening);
                    }
                    if (loop.stormRegisteredAt >= 0) {
                        registered.add(loop.stormRegisteredAt - listening);
                    }
                    if (loop.stormBackAt >= 0) {
                        back.add(loop.stormBackAt - listening);
                    }
                    attempts += loop.stormAttempts;
                }
                long[] conn = connected.stream().mapToLong(Long::longValue).sorted().toArray();
                System.out.printf(Locale.ROOT, "  connections re-established after listening: p50 %s, p99 %s, max %s (%d)%n",
                        sec(Bench.percentile(conn, 50)), sec(Bench.percentile(conn, 99)), sec(Bench.percentile(conn, 100)),
                        conn.length);
                long lastBack = back.stream().mapToLong(Long::longValue).max().orElse(-1);
                Storm s = new Storm(mode, n, agents, listening - killedAt, conn,
                        registered.stream().mapToLong(Long::longValue).sorted().toArray(),
                        back.stream().mapToLong(Long::longValue).sorted().toArray(), agents - back.size(),
                        startupCpu, cpuAllBack,
                        allBackAt < 0 ? -1 : Math.max(lastBack, 1), windowCpu, window.toNanos(), self1 - self0, server,
                        mode.equals("tls") ? handshakes.count() : -1, fleet.connectionsReady.sum() - ready0, fleet.connectionsFailed.sum() - failed0, attempts,
                        errors.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().sum(),
                                (x, y) -> x, TreeMap::new)));
                out.add(s);
                System.out.printf(Locale.ROOT, "[%s] storm %d: down %.2f s; all %d back %s after listening (p50 %s,"
                                + " p99 %s); controller CPU %.2f s in the storm, %d TLS handshakes, %d connections%n",
                        mode, n, s.downtime() / 1e9, agents - s.missing(), s.missing() > 0 ? "NOT ALL (" + s.missing()
                                + " missing)" : sec(s.total()), sec(Bench.percentile(s.back(), 50)),
                        sec(Bench.percentile(s.back(), 99)), s.stormCpu() / 1e9, s.handshakes(), s.connections());
            }
            return out;
        } catch (RuntimeException e) {
            child.keepLog();
            throw e;
        } finally {
            loops.forEach(AgentLoop::close);
            ticker.shutdownNow();
            ticker.awaitTermination(5, TimeUnit.SECONDS);
            if (fleet != null) {
                fleet.close();
            }
            child.close();
        }
    }

    private static void waitUntil(ControllerChild child, Duration limit, java.util.function.BooleanSupplier done,
                                  String what) throws InterruptedException {
        long end = System.nanoTime() + limit.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("not " + what + " after " + limit.toSeconds() + " s");
            }
            child.requireAlive();
            Thread.sleep(20);
        }
    }

    /**
     * One simulated agent's link to the controller, as {@code ControllerLink} runs it, on a shared scheduler
     * with asynchronous calls instead of a thread of its own.
     */
    private static final class AgentLoop {
        final SimulatedAgent sim;
        final ScheduledExecutorService ticker;
        final Duration configuredInterval;
        final Backoff backoff;
        /** The agent's channel when the link waits for it (ControllerLink today), null for the fail-fast link. */
        final ManagedChannel waitingChannel;
        volatile long intervalMillis;
        volatile boolean closed;
        volatile int beatsOk;
        volatile boolean inStorm;
        volatile Map<String, LongAdder> stormErrors;
        volatile long stormRegisteredAt = -1;
        volatile long stormBackAt = -1;
        volatile int stormAttempts;
        /** When the new controller listened (nanoTime), 0 until known. */
        static volatile long listeningAt;

        AgentLoop(SimulatedAgent sim, ScheduledExecutorService ticker, Duration interval, Duration maxBackoff,
                  ManagedChannel waitingChannel) {
            this.sim = sim;
            this.waitingChannel = waitingChannel;
            this.ticker = ticker;
            this.configuredInterval = interval;
            this.intervalMillis = interval.toMillis();
            this.backoff = new Backoff(interval, maxBackoff);
        }

        void start(long delayNanos) {
            ticker.schedule(this::tick, delayNanos, TimeUnit.NANOSECONDS);
            if (waitingChannel != null) {
                ticker.execute(this::paceReconnects);
            }
        }

        /** ControllerLink.paceReconnects: in TRANSIENT_FAILURE, a new connection attempt after 1–2 s. */
        private void paceReconnects() {
            if (closed) {
                return;
            }
            ConnectivityState state = waitingChannel.getState(false);
            if (state == ConnectivityState.TRANSIENT_FAILURE) {
                ticker.schedule(() -> {
                    if (waitingChannel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
                        waitingChannel.resetConnectBackoff();
                    }
                    paceReconnects();
                }, 1000 + ThreadLocalRandom.current().nextLong(1001), TimeUnit.MILLISECONDS);
            } else if (state != ConnectivityState.SHUTDOWN) {
                waitingChannel.notifyWhenStateChanged(state, () -> {
                    if (!ticker.isShutdown()) {
                        ticker.execute(this::paceReconnects);
                    }
                });
            }
        }

        void beginStorm(Map<String, LongAdder> errors) {
            stormErrors = errors;
            stormRegisteredAt = -1;
            stormBackAt = -1;
            stormAttempts = 0;
            inStorm = true;
        }

        void close() {
            closed = true;
        }

        private void tick() {
            if (closed) {
                return;
            }
            if (inStorm) {
                stormAttempts++;
            }
            if (sim.session == null) {
                sim.register(CALL_DEADLINE.toMillis(), new StreamObserver<>() {
                    @Override
                    public void onNext(RegisterResponse response) {
                        sim.session = response.getSessionId();
                        sim.desiredCommit(response.getDesiredDefinitionsCommit());
                        long asked = response.getHeartbeatIntervalMs();
                        intervalMillis = asked == 0 || asked > configuredInterval.toMillis()
                                ? configuredInterval.toMillis() : asked;
                    }

                    @Override
                    public void onError(Throwable t) {
                        failed(t);
                    }

                    @Override
                    public void onCompleted() {
                        if (inStorm && stormRegisteredAt < 0) {
                            stormRegisteredAt = System.nanoTime();
                        }
                        succeeded();
                    }
                });
            } else {
                sim.heartbeat(CALL_DEADLINE.toMillis(), new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatResponse response) {
                        sim.desiredCommit(response.getDesiredDefinitionsCommit());
                    }

                    @Override
                    public void onError(Throwable t) {
                        failed(t);
                    }

                    @Override
                    public void onCompleted() {
                        beatsOk++;
                        if (inStorm && stormRegisteredAt >= 0 && stormBackAt < 0) {
                            stormBackAt = System.nanoTime();
                        }
                        succeeded();
                    }
                });
            }
        }

        private void succeeded() {
            backoff.reset();
            next(intervalMillis);
        }

        private void failed(Throwable t) {
            Status status = Status.fromThrowable(t);
            if (inStorm) {
                String phase = listeningAt > 0 && System.nanoTime() >= listeningAt ? "up" : "down";
                stormErrors.computeIfAbsent(status.getCode().name() + "/" + phase, k -> {
                    if (phase.equals("up")) {
                        System.out.println("  first " + k + " error: " + status.getDescription()
                                + (status.getCause() == null ? "" : " (" + status.getCause() + ")"));
                    }
                    return new LongAdder();
                }).increment();
            }
            if (status.getCode() == Status.Code.FAILED_PRECONDITION && sim.session != null) {
                sim.session = null; // the controller forgot the session: register again at once
                next(0);
            } else if (waitingChannel != null && status.getCode() == Status.Code.DEADLINE_EXCEEDED
                    && waitingChannel.getState(false) != ConnectivityState.READY) {
                next(ThreadLocalRandom.current().nextLong(501)); // waited for the connection: retry soon
            } else {
                next(backoff.next().toMillis());
            }
        }

        private void next(long millis) {
            if (!closed) {
                ticker.schedule(this::tick, millis, TimeUnit.MILLISECONDS);
            }
        }
    }

    private static void report(List<Storm> storms) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%-5s %-5s %6s %9s %9s %9s %9s %9s %9s %7s %9s %9s %8s %7s %7s %8s%n", "mode",
                "storm", "down", "reg p50", "reg max", "back p50", "back p99", "back max", "stormCPU", "CPU%", "winCPU%",
                "startCPU", "hshakes", "conns", "TF", "srv p99");
        for (Storm s : storms) {
            double stormSeconds = s.stormSpan() / 1e9;
            System.out.printf(Locale.ROOT, "%-5s %-5d %5.2fs %9s %9s %9s %9s %9s %8.2fs %6.1f%% %8.1f%% %8.2fs %8s %7d %7d"
                            + " %8s%n", s.mode(), s.number(), s.downtime() / 1e9, sec(Bench.percentile(s.registered(), 50)),
                    sec(Bench.percentile(s.registered(), 100)), sec(Bench.percentile(s.back(), 50)),
                    sec(Bench.percentile(s.back(), 99)), s.missing() > 0 ? "MISSING" : sec(s.total()),
                    s.stormCpu() / 1e9, s.stormSpan() > 0 ? s.stormCpu() / 1e9 / stormSeconds * 100 : -1,
                    s.windowCpu() < 0 ? -1 : s.windowCpu() / 1e9 / (s.window() / 1e9) * 100, s.startupCpu() / 1e9,
                    s.handshakes() < 0 ? "-" : Long.toString(s.handshakes()), s.connections(),
                    s.failedConnections(), ControllerLoadBench.ms(s.server().p99()));
            System.out.printf(Locale.ROOT, "RESULT reconnect-storm mode=%s storm=%d agents=%d missing=%d downtime_s=%.3f"
                            + " connected_p50_s=%.3f connected_max_s=%.3f registered_p50_s=%.3f registered_p99_s=%.3f"
                            + " registered_max_s=%.3f back_p50_s=%.3f"
                            + " back_p99_s=%.3f back_max_s=%.3f storm_cpu_s=%.3f storm_cpu_pct=%.1f window_s=%.0f"
                            + " window_cpu_pct=%.1f startup_cpu_s=%.3f loadgen_cpu_s=%.3f tls_handshakes=%d"
                            + " client_connections=%d channel_transient_failures=%d agent_attempts=%d"
                            + " server_heartbeats=%d server_p99_ms=%.3f server_max_ms=%.3f hosts=%d errors=%s%n",
                    s.mode(), s.number(), s.agents(), s.missing(), s.downtime() / 1e9,
                    Bench.percentile(s.connected(), 50) / 1e9, Bench.percentile(s.connected(), 100) / 1e9,
                    Bench.percentile(s.registered(), 50) / 1e9, Bench.percentile(s.registered(), 99) / 1e9,
                    Bench.percentile(s.registered(), 100) / 1e9, Bench.percentile(s.back(), 50) / 1e9,
                    Bench.percentile(s.back(), 99) / 1e9, s.total() / 1e9, s.stormCpu() / 1e9,
                    s.stormSpan() > 0 ? s.stormCpu() / 1e9 / stormSeconds * 100 : -1, s.window() / 1e9,
                    s.windowCpu() < 0 ? -1 : s.windowCpu() / 1e9 / (s.window() / 1e9) * 100, s.startupCpu() / 1e9,
                    s.loadCpu() / 1e9, s.handshakes(), s.connections(), s.failedConnections(), s.attempts(),
                    s.server().heartbeats(), s.server().p99() / 1e6, s.server().max() / 1e6, s.server().hosts(),
                    s.errors().entrySet().stream().map(e -> e.getKey() + ":" + e.getValue())
                            .collect(Collectors.joining(",")));
        }
        List<Storm> real = storms.stream().filter(s -> s.mode().equals("real")).toList();
        List<Storm> tls = storms.stream().filter(s -> s.mode().equals("tls")).toList();
        for (int i = 0; i < Math.min(real.size(), tls.size()); i++) {
            Storm p = real.get(i);
            Storm t = tls.get(i);
            System.out.printf(Locale.ROOT, "RATIO reconnect-storm storm=%d back_max_tls_over_real=%.2f"
                            + " back_p50_tls_over_real=%.2f storm_cpu_s_tls_over_real=%.2f window_cpu_tls_over_real=%.2f%n",
                    i + 1, (double) t.total() / p.total(), (double) Bench.percentile(t.back(), 50)
                            / Bench.percentile(p.back(), 50), (double) t.stormCpu() / p.stormCpu(),
                    (double) t.windowCpu() / p.windowCpu());
        }
        System.out.println();
        Summary summary = new Summary("reconnect storm: " + (storms.isEmpty() ? 0 : storms.get(0).agents())
                + " agents, controller killed and restarted");
        for (String mode : storms.stream().map(Storm::mode).distinct().toList()) {
            List<Storm> of = storms.stream().filter(s -> s.mode().equals(mode)).toList();
            // A storm where some agent never came back counts as infinitely long.
            summary.add(mode, "all agents back, s", of.stream().mapToDouble(s -> s.missing() > 0 ? Double.POSITIVE_INFINITY
                    : s.total() / 1e9), mode.equals("tls") ? Summary.atMost(GOAL_SECONDS) : null);
            summary.add(mode, "  back p50, s", of.stream().mapToDouble(s -> Bench.percentile(s.back(), 50) / 1e9), null);
            summary.add(mode, "  connections all up, s", of.stream().mapToDouble(s -> Bench.percentile(s.connected(), 100) / 1e9), null);
            summary.add(mode, "  down (kill to listening), s", of.stream().mapToDouble(s -> s.downtime() / 1e9), null);
            summary.add(mode, "  controller CPU, listening to all back, s", of.stream().mapToDouble(s -> s.stormCpu() / 1e9), null);
            summary.add(mode, "  load generator CPU in the storm, s", of.stream().mapToDouble(s -> s.loadCpu() / 1e9), null);
            if (mode.equals("tls")) {
                summary.add(mode, "  TLS handshakes (agents' side)", of.stream().mapToDouble(Storm::handshakes), null);
            }
            summary.add(mode, "  connections established", of.stream().mapToDouble(Storm::connections), null);
        }
        summary.print();
        boolean met = !tls.isEmpty() && tls.stream().allMatch(s -> s.missing() == 0 && s.total() / 1e9 <= GOAL_SECONDS);
        System.out.printf(Locale.ROOT, "goal every agent back within %.0f s of the new controller listening (tls): %s%n",
                GOAL_SECONDS, tls.isEmpty() ? "not run" : met ? "MET" : "NOT MET");
        System.out.println("down = kill to new controller listening; reg / back = per agent, from the new controller"
                + " listening to registered / to its first heartbeat accepted (back max = all 1,000 back); stormCPU ="
                + " controller CPU from listening until all back (CPU% over that span); winCPU% = over the first --window;"
                + " startCPU = JVM start to listening; hshakes = TLS handshakes completed with the new controller, counted"
                + " on the simulated agents' side (JFR jdk.TLSHandshake of their JDK TLS; '-' in plaintext, 0 if they run"
                + " BoringSSL, which JFR does not see);"
                + " conns = connections the agents established; TF = times a channel entered TRANSIENT_FAILURE (gRPC keeps"
                + " reporting it until the next connection is up); srv p99 = server-side"
                + " heartbeat handling time over the storm.");
    }

    private static String sec(long nanos) {
        return nanos < 0 ? "-" : String.format(Locale.ROOT, "%.2fs", nanos / 1e9);
    }
}
