package io.virtfleet.bench;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HypervisorInfo;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Goal 2 of the footprint issue: a controller serving 1,000 agents that heartbeat every second must stay within
 * 10 % of one core, handling 99 % of heartbeats within 2 ms.
 *
 * <p>The controller runs as its own JVM ({@link ControllerProcess}); this JVM simulates the agents. Each
 * simulated agent registers once, then heartbeats every interval with a realistic report (5 to 10 domains);
 * start times are spread evenly over the interval. Calls are asynchronous: one scheduler thread fires them and
 * one event-loop thread carries all connections. By default every simulated agent has its own channel, hence its
 * own TCP connection and HTTP/2 session, as real agents do: the server then pays the per-connection read, flush
 * and keep-alive costs it pays in production, which sharing a few connections would hide by batching.
 *
 * <p>The same load runs first against a no-op registry on the same transport (baseline), then against the real
 * controller. For each, the server's CPU time is read from /proc over the measured window and the server-side
 * heartbeat handling time comes from the {@code HeartbeatTimer} inside the server process (headers in to stream
 * closed); the round trip seen by the simulated agents is reported too.
 */
public final class ControllerLoadBench {
    private static final double GOAL_CPU_PERCENT = 10;
    private static final double GOAL_P99_MS = 2;
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(5);
    private static final String USAGE = String.join("\n",
            "ControllerLoadBench [--agents 1000] [--interval 1s] [--channels 0 (one per agent)] [--warmup 20s]",
            "    [--measure 60s] [--rounds 1] [--controller-jvm-flags \"FLAGS\"] [--classpath CP]",
            "    [--extra-mode noop-direct|real-direct]...   (also run with handlers on the event loop, no executor)");

    private ControllerLoadBench() {}

    /** What one run measured. */
    record Result(String mode, double seconds, long serverCpuNanos, long loadCpuNanos, long[] server, long hosts,
                  LatencyHistogram.Snapshot client, long ok, long errors) {
        double serverCpuPercent() {
            return serverCpuNanos / 1e9 / seconds * 100;
        }

        double loadCpuPercent() {
            return loadCpuNanos / 1e9 / seconds * 100;
        }

        long serverCount() {
            return server[0];
        }

        long serverP50() {
            return server[1];
        }

        long serverP99() {
            return server[3];
        }

        long serverP999() {
            return server[4];
        }

        long serverMax() {
            return server[5];
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("agents", "interval", "channels", "warmup", "measure", "rounds",
                "controller-jvm-flags", "classpath", "extra-mode"), USAGE);
        int agents = a.integer("agents", 1000);
        Duration interval = a.duration("interval", "1s");
        int channels = a.integer("channels", 0);
        Duration warmup = a.duration("warmup", "20s");
        Duration measure = a.duration("measure", "60s");
        int rounds = a.integer("rounds", 1);
        List<String> flags = Arrays.stream(a.string("controller-jvm-flags", "").trim().split("\\s+"))
                .filter(s -> !s.isEmpty()).toList();
        String classpath = a.string("classpath", System.getProperty("java.class.path"));

        System.out.printf(Locale.ROOT, "controller load: %d simulated agents, heartbeat every %dms, %s, warm-up %ds,"
                        + " measured %ds, %d round(s), %d vCPU, controller JVM flags: %s%n",
                agents, interval.toMillis(), channels == 0 ? "one channel (TCP connection) per agent"
                        : channels + " shared channels", warmup.toSeconds(), measure.toSeconds(), rounds,
                Runtime.getRuntime().availableProcessors(), flags.isEmpty() ? "(JVM defaults)" : String.join(" ", flags));
        List<String> modes = new ArrayList<>(List.of("noop", "real"));
        modes.addAll(a.all("extra-mode"));
        List<Result[]> pairs = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            Result[] results = new Result[modes.size()];
            for (int m = 0; m < modes.size(); m++) {
                results[m] = run(modes.get(m), agents, interval, channels, warmup, measure, flags, classpath);
            }
            pairs.add(results);
        }
        report(pairs, agents);
    }

    private static Result run(String mode, int agents, Duration interval, int channelCount, Duration warmup,
                              Duration measure, List<String> flags, String classpath) throws Exception {
        Path log = Files.createTempFile("vf-load-" + mode, ".log");
        System.out.printf(Locale.ROOT, "[%s] starting controller JVM (log %s)%n", mode, log.getFileName());
        try (ChildJvm child = ChildJvm.start("controller/" + mode, flags, classpath,
                ControllerProcess.class.getName(), List.of(mode), log, true)) {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.process.getInputStream(),
                    StandardCharsets.UTF_8));
            PrintWriter in = new PrintWriter(child.process.getOutputStream(), true, StandardCharsets.UTF_8);
            String first = out.readLine();
            if (first == null || !first.startsWith("PORT ")) {
                throw new IllegalStateException("controller JVM did not start: " + first + "\n" + child.logTail(30));
            }
            Endpoint target = new Endpoint("127.0.0.1", Integer.parseInt(first.substring(5).trim()));
            Result result = load(mode, child, out, in, target, agents, interval, channelCount, warmup, measure);
            in.println("quit");
            child.process.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(log);
            return result;
        } catch (RuntimeException | IOException e) {
            System.err.println("controller log kept at " + log);
            throw e;
        }
    }

    private static Result load(String mode, ChildJvm child, BufferedReader out, PrintWriter in, Endpoint target,
                               int agents, Duration interval, int channelCount, Duration warmup, Duration measure)
            throws Exception {
        Executor direct = Runnable::run;
        Transport transport = Transport.plaintextForTests("bench-load", 1);
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-ticker");
            t.setDaemon(true);
            return t;
        });
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            int n = channelCount <= 0 ? agents : Math.min(channelCount, agents);
            for (int i = 0; i < n; i++) {
                channels.add(transport.channel(target, io.virtfleet.common.security.FleetIdentity.controller(), direct));
            }
            List<SimulatedAgent> sims = new ArrayList<>();
            for (int i = 0; i < agents; i++) {
                sims.add(new SimulatedAgent(i, RegistryGrpc.newStub(channels.get(i % n))));
            }
            registerAll(sims);
            System.out.printf(Locale.ROOT, "[%s] %d agents registered; heartbeating, warming up %ds%n", mode, agents,
                    warmup.toSeconds());

            LatencyHistogram rtt = new LatencyHistogram();
            LongAdder ok = new LongAdder();
            LongAdder errors = new LongAdder();
            long period = interval.toNanos();
            for (SimulatedAgent sim : sims) {
                ticker.scheduleAtFixedRate(() -> sim.heartbeat(rtt, ok, errors), period * sim.index / agents, period,
                        TimeUnit.NANOSECONDS);
            }
            sleepWhileAlive(child, warmup);

            command(in, out, "reset", "OK");
            rtt.reset();
            ok.reset();
            errors.reset();
            long server0 = ProcStats.cpuNanos(child.pid());
            long self0 = ProcStats.cpuNanos(-1);
            long t0 = System.nanoTime();
            sleepWhileAlive(child, measure);
            long server1 = ProcStats.cpuNanos(child.pid());
            long self1 = ProcStats.cpuNanos(-1);
            long t1 = System.nanoTime();
            String report = command(in, out, "report", "REPORT ");
            LatencyHistogram.Snapshot client = rtt.snapshot();
            long[] server = Arrays.stream(report.substring("REPORT ".length()).trim().split("\\s+"))
                    .mapToLong(Long::parseLong).toArray();
            Result r = new Result(mode, (t1 - t0) / 1e9, server1 - server0, self1 - self0, server, server[7], client,
                    ok.sum(), errors.sum());
            System.out.printf(Locale.ROOT, "[%s] %.0f heartbeats/s, controller CPU %.2f%% of one core, server p99 %s,"
                            + " round trip p99 %s%n", mode, r.ok() / r.seconds(), r.serverCpuPercent(),
                    ms(r.serverP99()), ms(client.percentileNanos(99)));
            return r;
        } finally {
            ticker.shutdownNow();
            ticker.awaitTermination(5, TimeUnit.SECONDS);
            for (ManagedChannel c : channels) {
                c.shutdownNow();
            }
            transport.close();
        }
    }

    private static void registerAll(List<SimulatedAgent> sims) throws InterruptedException {
        Semaphore inFlight = new Semaphore(64);
        CountDownLatch done = new CountDownLatch(sims.size());
        LongAdder failed = new LongAdder();
        for (SimulatedAgent sim : sims) {
            inFlight.acquire();
            sim.register(() -> {
                inFlight.release();
                done.countDown();
            }, failed);
        }
        if (!done.await(120, TimeUnit.SECONDS) || failed.sum() > 0) {
            throw new IllegalStateException("registration failed for " + failed.sum() + " agents (or timed out)");
        }
    }

    private static String command(PrintWriter in, BufferedReader out, String command, String expect)
            throws IOException {
        in.println(command);
        String line = out.readLine();
        if (line == null || !line.startsWith(expect)) {
            throw new IllegalStateException("controller JVM answered '" + line + "' to " + command);
        }
        return line;
    }

    private static void sleepWhileAlive(ChildJvm child, Duration d) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            if (!child.process.isAlive()) {
                throw new IllegalStateException(child.label + " died:\n" + child.logTail(30));
            }
            Thread.sleep(Math.max(1, Math.min(500, (end - System.nanoTime()) / 1_000_000)));
        }
    }

    /** One fake agent: its identity, its report and its (possibly shared) stub. */
    private static final class SimulatedAgent {
        final int index;
        final HostReport report;
        final RegistryGrpc.RegistryStub stub;
        final String agentId;
        volatile String session;

        SimulatedAgent(int index, RegistryGrpc.RegistryStub stub) {
            this.index = index;
            this.stub = stub;
            this.report = report(index);
            this.agentId = new UUID(0x5eed, index).toString();
        }

        void register(Runnable done, LongAdder failed) {
            stub.withDeadlineAfter(60, TimeUnit.SECONDS).register(RegisterRequest.newBuilder()
                    .setAgentId(agentId)
                    .setAgentEndpoint("127.0.0.1:" + (20000 + index))
                    .setAgentVersion("0.1.0")
                    .addAllStorageTiers(List.of("ssd", "sata", "raw"))
                    .setReport(report)
                    .build(), new StreamObserver<>() {
                        @Override
                        public void onNext(RegisterResponse value) {
                            session = value.getSessionId();
                        }

                        @Override
                        public void onError(Throwable t) {
                            System.err.println(report.getHostName() + ": register failed: " + Status.fromThrowable(t));
                            failed.increment();
                            done.run();
                        }

                        @Override
                        public void onCompleted() {
                            done.run();
                        }
                    });
        }

        void heartbeat(LatencyHistogram rtt, LongAdder ok, LongAdder errors) {
            long start = System.nanoTime();
            HeartbeatRequest request = HeartbeatRequest.newBuilder()
                    .setSessionId(session)
                    .setReport(report.toBuilder().setTakenAtUnixMs(System.currentTimeMillis()))
                    .build();
            stub.withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS).heartbeat(request,
                    new StreamObserver<>() {
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
    }

    /** A report such as a mid-size hypervisor sends: host facts and 5 to 10 domains. */
    static HostReport report(int index) {
        String host = String.format(Locale.ROOT, "sim-%04d", index);
        HostReport.Builder b = HostReport.newBuilder()
                .setHostName(host)
                .setTakenAtUnixMs(System.currentTimeMillis())
                .setResources(HostResources.newBuilder()
                        .setCpuModel("Intel(R) Xeon(R) E-2386G CPU @ 3.50GHz")
                        .setPhysicalCores(6)
                        .setLogicalThreads(12)
                        .setLoadAverage1M(1.25 + index % 7 * 0.1)
                        .setLoadAverage5M(1.1)
                        .setLoadAverage15M(0.9)
                        .setCpuUtilisationPercent(23.5)
                        .setMemoryTotalBytes(64L << 30)
                        .setMemoryAvailableBytes((40L << 30) - index * (1L << 20))
                        .setImagesDirectory("/var/lib/libvirt/images")
                        .setImagesFreeBytes(800L << 30)
                        .setImagesTotalBytes(1800L << 30)
                        .setUptimeSeconds(30L * 86400 + index))
                .setHypervisor(HypervisorInfo.newBuilder()
                        .setUri("qemu:///system")
                        .setType("QEMU")
                        .setVersion("7.2.0")
                        .setLibvirtVersion("9.0.0")
                        .setNodeCpus(12)
                        .setNodeMemoryBytes(64L << 30));
        int domains = 5 + index % 6;
        for (int d = 1; d <= domains; d++) {
            String name = host + "-vm" + d;
            long memory = (1L + d % 4) << 30;
            b.addDomains(DomainInfo.newBuilder()
                    .setName(name)
                    .setUuid(new UUID(index, d).toString())
                    .setState(d % 4 == 0 ? DomainState.DOMAIN_STATE_SHUTOFF : DomainState.DOMAIN_STATE_RUNNING)
                    .setVcpus(1 + d % 4)
                    .setMaxMemoryBytes(memory)
                    .setMemoryBytes(memory)
                    .setAutostart(d % 2 == 0)
                    .setPersistent(true)
                    .setDefinitionSha256(sha256(name)));
        }
        return b.build();
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void report(List<Result[]> pairs, int agents) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%-6s %-11s %7s %8s %9s %9s %9s %9s %9s %9s %7s %8s %8s%n", "round", "mode",
                "beats/s", "ctrlCPU", "srv p50", "srv p99", "srv p99.9", "srv max", "rtt p50", "rtt p99", "errors",
                "loadCPU", "hosts");
        double cpuRatioSum = 0;
        double p99RatioSum = 0;
        boolean cpuMet = true;
        boolean p99Met = true;
        for (int i = 0; i < pairs.size(); i++) {
            for (Result r : pairs.get(i)) {
                System.out.printf(Locale.ROOT, "%-6d %-11s %7.0f %7.2f%% %9s %9s %9s %9s %9s %9s %7d %7.2f%% %8s%n",
                        i + 1, r.mode(), r.ok() / r.seconds(), r.serverCpuPercent(), ms(r.serverP50()),
                        ms(r.serverP99()), ms(r.serverP999()), ms(r.serverMax()), ms(r.client().percentileNanos(50)),
                        ms(r.client().percentileNanos(99)), r.errors(), r.loadCpuPercent(),
                        r.hosts() < 0 ? "-" : Long.toString(r.hosts()));
                System.out.printf(Locale.ROOT, "RESULT controller-load round=%d mode=%s agents=%d window_s=%.0f"
                                + " heartbeats_per_s=%.1f server_heartbeats=%d cpu_pct=%.2f server_p50_ms=%.3f"
                                + " server_p99_ms=%.3f server_p999_ms=%.3f server_max_ms=%.3f rtt_p50_ms=%.3f"
                                + " rtt_p99_ms=%.3f errors=%d loadgen_cpu_pct=%.2f hosts=%d%n",
                        i + 1, r.mode(), agents, r.seconds(), r.ok() / r.seconds(), r.serverCount(),
                        r.serverCpuPercent(), r.serverP50() / 1e6, r.serverP99() / 1e6, r.serverP999() / 1e6,
                        r.serverMax() / 1e6, r.client().percentileNanos(50) / 1e6,
                        r.client().percentileNanos(99) / 1e6, r.errors(), r.loadCpuPercent(), r.hosts());
            }
            Result noop = pairs.get(i)[0];
            Result real = pairs.get(i)[1];
            double cpuRatio = real.serverCpuPercent() / noop.serverCpuPercent();
            double p99Ratio = (double) real.serverP99() / noop.serverP99();
            double rttRatio = (double) real.client().percentileNanos(99) / noop.client().percentileNanos(99);
            cpuRatioSum += cpuRatio;
            p99RatioSum += p99Ratio;
            cpuMet &= real.serverCpuPercent() <= GOAL_CPU_PERCENT;
            p99Met &= real.serverP99() / 1e6 <= GOAL_P99_MS && real.errors() == 0;
            System.out.printf(Locale.ROOT, "RATIO controller-load round=%d cpu_real_over_noop=%.2f"
                    + " server_p99_real_over_noop=%.2f rtt_p99_real_over_noop=%.2f%n", i + 1, cpuRatio, p99Ratio,
                    rttRatio);
        }
        System.out.printf(Locale.ROOT, "real/noop (mean over %d round(s)): controller CPU x%.2f, server p99 x%.2f%n",
                pairs.size(), cpuRatioSum / pairs.size(), p99RatioSum / pairs.size());
        System.out.printf(Locale.ROOT, "goal controller CPU <= %.0f%% of one core: %s; goal server p99 <= %.0f ms: %s%n",
                GOAL_CPU_PERCENT, cpuMet ? "MET" : "NOT MET", GOAL_P99_MS, p99Met ? "MET" : "NOT MET");
        System.out.println("srv = server side, inside the controller JVM, from the call's headers arriving to its stream"
                + " closing; rtt = round trip seen by the simulated agent; ctrlCPU / loadCPU = utime+stime of the"
                + " controller / load-generator JVM over the window, % of one core.");
    }

    private static String ms(long nanos) {
        return String.format(Locale.ROOT, "%.3fms", nanos / 1e6);
    }
}
