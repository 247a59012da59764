package io.virtfleet.bench;

import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.GZIPInputStream;

/**
 * The controller's CPU under heartbeating agents with a Prometheus scraping its metrics endpoint, against the same
 * controller in the same run without scraping: alternating phases A (scraper on) and B (off), ABAB..., each over the
 * same number of heartbeats, so that the load of a shared machine falls on both halves alike.
 *
 * <p>The controller is {@link ControllerProcess} (its own JVM; CPU from /proc, as {@link ControllerLoadBench} reads
 * it) with {@code metrics-listen} on, started on a data directory already holding {@code --vms-per-host} VMs per host
 * ({@link SeededVms}: their records in the definitions repository and their claims); {@code --agents} simulated agents
 * ({@link SimulatedAgent}, in tls mode each enrolled with its own certificate, one connection each) report those VMs
 * as their domains and heartbeat every second. Every host then has the per-host fan-out series a controller that has
 * fanned out a commit has ({@code fan-out-observed}). The reconciler's passes are put off ({@code
 * --reconcile-interval}): the simulated agents answer no call, so a pass would only time out on each of them, in
 * both phases.
 *
 * <p>The scraper is the JDK's HTTP client asking {@code GET /metrics} as Prometheus does (OpenMetrics preferred,
 * gzip), one scrape at a time, every {@code --scrape-every}. To have enough scrapes in a short run it may scrape
 * more often than a real Prometheus (every 15 s): one scrape's CPU is A's CPU beyond B's for as many heartbeats,
 * divided by A's scrapes, and the share of a core at {@code --scale-to} is that over {@code --scale-to} (a scrape
 * reads the fleet as it is, whatever the interval). The output says which interval was measured and which derived.
 */
public final class ScrapeLoadBench {
    /** What Prometheus 2 asks for by default: OpenMetrics first, then the classic text format. */
    static final String PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,"
            + "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    private static final String USAGE = String.join("\n",
            "ScrapeLoadBench [--agents 1000] [--vms-per-host 10] [--mode tls|real] [--scrape-every 1s] [--scale-to 15s]",
            "    [--pairs 4] [--phase-heartbeats 30000] [--gap 5s] [--warmup 40s] [--max-warmup 180s]",
            "    [--reconcile-interval 24h] [--controller-jvm-flags \"FLAGS\"] [--classpath CP] [--work-dir DIR]",
            "    [--enroll-parallelism 4]",
            "  --pairs pairs of phases A (scraper on, every --scrape-every) and B (no scraper), in the order ABAB...;",
            "  each phase measures the controller over --phase-heartbeats heartbeats after --gap unmeasured (the",
            "  scraper starts or stops at the gap's start); the warm-up scrapes every second (or --scrape-every if shorter).",
            "  One scrape's CPU = (A's CPU - B's CPU for as many heartbeats) / A's scrapes; scaled to --scale-to.");

    private ScrapeLoadBench() {}

    /** One measured phase, with what explains its CPU. */
    record Measured(String label, int pair, boolean scraping, ScrapeCost.Phase phase,
                    Map<ProcStats.ThreadKind, Long> threadCpu, ControllerChild.Report server, long errors,
                    int scrapeFailures, LatencyHistogram.Snapshot scrapeTimes, double loadAverage, long loadgenCpuNanos) {
        double kindPercent(ProcStats.ThreadKind kind) {
            return threadCpu.get(kind) / 1e9 / phase.seconds() * 100;
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("agents", "vms-per-host", "mode", "scrape-every", "scale-to", "pairs",
                "phase-heartbeats", "gap", "warmup", "max-warmup", "reconcile-interval", "controller-jvm-flags",
                "classpath", "work-dir", "enroll-parallelism"), USAGE);
        int agents = a.integer("agents", 1000);
        int perHost = a.integer("vms-per-host", 10);
        String mode = a.string("mode", "tls");
        if (!mode.equals("tls") && !mode.equals("real")) {
            throw new IllegalArgumentException("--mode is tls or real, found " + mode + "\n" + USAGE);
        }
        Duration every = a.duration("scrape-every", "1s");
        Duration scaleTo = a.duration("scale-to", "15s");
        int pairs = a.integer("pairs", 4);
        int phaseHeartbeats = a.integer("phase-heartbeats", 30_000);
        Duration gap = a.duration("gap", "5s");
        Duration warmup = a.duration("warmup", "40s");
        Duration maxWarmup = a.duration("max-warmup", "180s");
        String reconcile = a.string("reconcile-interval", "24h");
        List<String> flags = Arrays.stream(a.string("controller-jvm-flags", "").trim().split("\\s+"))
                .filter(s -> !s.isEmpty()).toList();
        String classpath = a.string("classpath", System.getProperty("java.class.path"));
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-scrape-load");
        int enrollParallelism = a.integer("enroll-parallelism", 4);
        int vms = agents * perHost;
        System.out.printf(Locale.ROOT, "scrape under load: %d simulated agents (%s) heartbeating every 1 s, %d VMs (%d per"
                        + " host); %d pairs of phases A (scraped every %s) and B (not scraped), ABAB..., each over %,d"
                        + " heartbeats after a %d s gap; CPU per scrape scaled to one scrape every %s; controller JVM"
                        + " flags: %s; %d vCPU, load average %s%n", agents, mode.equals("tls") ? "mutual TLS, enrolled"
                        : "plaintext test mode", vms, perHost, pairs, text(every), phaseHeartbeats, gap.toSeconds(),
                text(scaleTo), flags.isEmpty() ? "(JVM defaults)" : String.join(" ", flags),
                Runtime.getRuntime().availableProcessors(), loadAverage());
        if (!every.equals(scaleTo)) {
            System.out.printf(Locale.ROOT, "NOTE: measured with one scrape every %s; the figures 'at %s' are derived from"
                    + " the CPU per scrape measured, not measured at that interval%n", text(every), text(scaleTo));
        }
        List<Measured> all = new ArrayList<>();
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-ticker");
            t.setDaemon(true);
            return t;
        });
        try {
            Path data = work.resolve("controller");
            long s0 = System.nanoTime();
            SeededVms.Commits commits = SeededVms.seed(data, agents, perHost);
            System.out.printf(Locale.ROOT, "seeded %,d VM records (commit %s) and their claims in %.1f s%n", vms,
                    commits.head().substring(0, 12), (System.nanoTime() - s0) / 1e9);
            try (ControllerChild child = ControllerChild.start(mode, 0, data, List.of("--metrics-listen", "127.0.0.1:0",
                    "--reconcile-interval", reconcile), flags, classpath, "controller/scrape")) {
                try {
                    List<TlsCredentials> credentials = mode.equals("tls")
                            ? SimulatedFleet.enroll(child.endpoint(), child.dataDir, agents, work.resolve("agents"),
                                    enrollParallelism)
                            : null;
                    try (SimulatedFleet fleet = SimulatedFleet.perAgent(child.endpoint(), agents, credentials);
                         Scraper scraper = new Scraper(URI.create("http://127.0.0.1:" + child.metricsPort() + "/metrics"))) {
                        all.addAll(run(child, fleet, scraper, ticker, agents, perHost, every, pairs, phaseHeartbeats,
                                gap, warmup, maxWarmup));
                    }
                } catch (RuntimeException e) {
                    child.keepLog();
                    throw e;
                }
            }
        } finally {
            ticker.shutdownNow();
            if (a.string("work-dir", null) == null) {
                Bench.deleteTree(work);
            }
        }
        report(all, agents, vms, every, scaleTo);
    }

    private static List<Measured> run(ControllerChild child, SimulatedFleet fleet, Scraper scraper,
                                      ScheduledExecutorService ticker, int agents, int perHost, Duration every, int pairs,
                                      int phaseHeartbeats, Duration gap, Duration warmup, Duration maxWarmup)
            throws Exception {
        List<SimulatedAgent> sims = new ArrayList<>();
        for (int i = 0; i < agents; i++) {
            sims.add(new SimulatedAgent(i, RegistryGrpc.newStub(fleet.channel(i)), perHost));
        }
        LatencyHistogram rtt = new LatencyHistogram();
        LongAdder ok = new LongAdder();
        LongAdder errors = new LongAdder();
        ControllerLoadBench.heartbeatEvery(Duration.ofSeconds(1), sims, ticker, rtt, ok, errors);
        long r0 = System.nanoTime();
        ControllerLoadBench.registerAll(sims);
        int fannedOut = child.fanOutObserved();
        System.out.printf(Locale.ROOT, "%d agents registered in %.1f s; a fan-out recorded for %d hosts%n", agents,
                (System.nanoTime() - r0) / 1e9, fannedOut);
        Scrape first = scraper.check(agents, agents * perHost);
        System.out.printf(Locale.ROOT, "first scrape: %s, %s, %,d bytes sent (%,d bytes of text, %,d lines: %,d hosts,"
                        + " %,d VMs) in %.0f ms%n", first.contentType(), first.encoding(), first.sentBytes(),
                first.textBytes(), first.lines(), first.hosts(), first.vms(), first.nanos() / 1e6);

        // The warm-up scrapes at least every second, so that the scrape path is compiled before the first A phase
        // even when the phases scrape as rarely as Prometheus does.
        scraper.start(every.compareTo(Duration.ofSeconds(1)) < 0 ? every : Duration.ofSeconds(1));
        ControllerLoadBench.settle("scrape", child, warmup, maxWarmup);
        scraper.stop();
        List<Measured> out = new ArrayList<>();
        for (int pair = 1; pair <= pairs; pair++) {
            for (boolean scraping : new boolean[] {true, false}) {
                Measured m = phase(child, scraper, every, ok, errors, pair, scraping, phaseHeartbeats, gap, agents);
                out.add(m);
                System.out.printf(Locale.ROOT, "[%s] %,d heartbeats in %.1f s, %d scrapes (%d failed, p50 %s, max %s):"
                                + " controller CPU %.2f%% of one core, %.1f us per heartbeat (event loops %.2f%%, GC"
                                + " %.2f%%, JIT %.2f%%, other %.2f%%), server p99 %s, %d errors; load average %.2f%n",
                        m.label(), m.phase().heartbeats(), m.phase().seconds(), m.phase().scrapes(), m.scrapeFailures(),
                        m.phase().scrapes() == 0 ? "-" : ControllerLoadBench.ms(m.scrapeTimes().percentileNanos(50)),
                        m.phase().scrapes() == 0 ? "-" : ControllerLoadBench.ms(m.scrapeTimes().maxNanos()),
                        m.phase().cpuPercent(), m.phase().cpuMicrosPerHeartbeat(),
                        m.kindPercent(ProcStats.ThreadKind.EVENT_LOOP), m.kindPercent(ProcStats.ThreadKind.GC),
                        m.kindPercent(ProcStats.ThreadKind.JIT), m.kindPercent(ProcStats.ThreadKind.OTHER),
                        ControllerLoadBench.ms(m.server().p99()), m.errors(), m.loadAverage());
            }
        }
        scraper.stop();
        Scrape last = scraper.check(agents, agents * perHost);
        System.out.printf(Locale.ROOT, "last scrape: %,d bytes sent, %,d hosts, %,d VMs%n", last.sentBytes(), last.hosts(),
                last.vms());
        return out;
    }

    /** Starts or stops the scraper, lets a gap pass, then measures until {@code heartbeats} more are answered. */
    private static Measured phase(ControllerChild child, Scraper scraper, Duration every, LongAdder ok, LongAdder errors,
                                  int pair, boolean scraping, int heartbeats, Duration gap, int agents) throws Exception {
        if (scraping) {
            scraper.start(every);
        } else {
            scraper.stop();
        }
        child.sleepWhileAlive(gap);
        child.reset();
        scraper.times.reset();
        long ok0 = ok.sum();
        long errors0 = errors.sum();
        int scrapes0 = scraper.started.get();
        int failed0 = scraper.failed.get();
        Map<ProcStats.ThreadKind, Long> threads0 = ProcStats.threadCpuNanos(child.pid());
        long cpu0 = ProcStats.cpuNanos(child.pid());
        long self0 = ProcStats.cpuNanos(-1);
        long t0 = System.nanoTime();
        // At 1,000 agents a heartbeat each per second: allow three times as long, and a minute more, before giving up.
        long deadline = t0 + TimeUnit.SECONDS.toNanos(3L * heartbeats / Math.max(1, agents) + 60);
        while (ok.sum() - ok0 < heartbeats) {
            child.requireAlive();
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("only " + (ok.sum() - ok0) + " of " + heartbeats + " heartbeats answered"
                        + " before the deadline (" + (errors.sum() - errors0) + " errors)");
            }
            Thread.sleep(10);
        }
        long cpu1 = ProcStats.cpuNanos(child.pid());
        long self1 = ProcStats.cpuNanos(-1);
        long t1 = System.nanoTime();
        long answered = ok.sum() - ok0;
        int scrapes = scraper.started.get() - scrapes0;
        Map<ProcStats.ThreadKind, Long> threads1 = ProcStats.threadCpuNanos(child.pid());
        ControllerChild.Report server = child.report();
        Map<ProcStats.ThreadKind, Long> threadCpu = new EnumMap<>(ProcStats.ThreadKind.class);
        threads1.forEach((k, v) -> threadCpu.put(k, v - threads0.getOrDefault(k, 0L)));
        // As in ControllerLoadBench: "other" is the process's CPU beyond the named kinds (the metrics endpoint's
        // threads are among the others; one that ended in the window took its count with it, the process kept it).
        threadCpu.put(ProcStats.ThreadKind.OTHER, Math.max(0, cpu1 - cpu0 - threadCpu.get(ProcStats.ThreadKind.EVENT_LOOP)
                - threadCpu.get(ProcStats.ThreadKind.JIT) - threadCpu.get(ProcStats.ThreadKind.GC)));
        return new Measured((scraping ? "A" : "B") + pair, pair, scraping,
                new ScrapeCost.Phase((t1 - t0) / 1e9, answered, cpu1 - cpu0, scrapes), threadCpu, server,
                errors.sum() - errors0, scraper.failed.get() - failed0, scraper.times.snapshot(), loadAverage(),
                self1 - self0);
    }

    private static void report(List<Measured> all, int agents, int vms, Duration every, Duration scaleTo) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%-5s %7s %6s %7s %8s %8s %7s %7s %7s %9s %9s %6s %6s %8s%n", "phase", "beats",
                "secs", "scrapes", "ctrlCPU", "us/beat", "loops", "GC", "other", "srv p99", "scrape50", "errors", "load",
                "loadCPU");
        for (Measured m : all) {
            System.out.printf(Locale.ROOT, "%-5s %7d %6.1f %7d %7.2f%% %8.1f %6.2f%% %6.2f%% %6.2f%% %9s %9s %6d %6.2f"
                            + " %7.2f%%%n", m.label(), m.phase().heartbeats(), m.phase().seconds(), m.phase().scrapes(),
                    m.phase().cpuPercent(), m.phase().cpuMicrosPerHeartbeat(), m.kindPercent(ProcStats.ThreadKind.EVENT_LOOP),
                    m.kindPercent(ProcStats.ThreadKind.GC), m.kindPercent(ProcStats.ThreadKind.OTHER),
                    ControllerLoadBench.ms(m.server().p99()),
                    m.phase().scrapes() == 0 ? "-" : ControllerLoadBench.ms(m.scrapeTimes().percentileNanos(50)),
                    m.errors(), m.loadAverage(), m.loadgenCpuNanos() / 1e9 / m.phase().seconds() * 100);
            System.out.printf(Locale.ROOT, "RESULT scrape-load phase=%s scraping=%b heartbeats=%d seconds=%.2f scrapes=%d"
                            + " scrape_failures=%d cpu_pct=%.3f cpu_us_per_heartbeat=%.3f event_loop_pct=%.3f gc_pct=%.3f"
                            + " jit_pct=%.3f other_pct=%.3f server_p99_ms=%.3f errors=%d load1=%.2f loadgen_cpu_pct=%.2f%n",
                    m.label(), m.scraping(), m.phase().heartbeats(), m.phase().seconds(), m.phase().scrapes(),
                    m.scrapeFailures(), m.phase().cpuPercent(), m.phase().cpuMicrosPerHeartbeat(),
                    m.kindPercent(ProcStats.ThreadKind.EVENT_LOOP), m.kindPercent(ProcStats.ThreadKind.GC),
                    m.kindPercent(ProcStats.ThreadKind.JIT), m.kindPercent(ProcStats.ThreadKind.OTHER),
                    m.server().p99() / 1e6, m.errors(), m.loadAverage(), m.loadgenCpuNanos() / 1e9 / m.phase().seconds() * 100);
        }
        List<ScrapeCost> costs = new ArrayList<>();
        System.out.println();
        System.out.printf(Locale.ROOT, "%-4s %9s %9s %13s %12s %14s %14s%n", "pair", "CPU A", "CPU B", "A/B per beat",
                "ms/scrape", "+CPU at " + text(scaleTo), "ratio at " + text(scaleTo));
        for (int i = 0; i + 1 < all.size(); i += 2) {
            Measured scraped = all.get(i);
            Measured quiet = all.get(i + 1);
            ScrapeCost c = new ScrapeCost(scraped.phase(), quiet.phase());
            costs.add(c);
            System.out.printf(Locale.ROOT, "%-4d %8.2f%% %8.2f%% %13.3f %12.1f %13.3f%% %14.4f%n", scraped.pair(),
                    scraped.phase().cpuPercent(), quiet.phase().cpuPercent(), c.ratio(), c.cpuMillisPerScrape(),
                    c.extraPercentAt(scaleTo), c.ratioAt(scaleTo));
            System.out.printf(Locale.ROOT, "RESULT scrape-load pair=%d scrape_every_s=%.1f ratio_measured=%.4f"
                            + " cpu_ms_per_scrape=%.2f scaled_to_s=%.1f extra_cpu_pct_scaled=%.4f ratio_scaled=%.5f%n",
                    scraped.pair(), every.toMillis() / 1e3, c.ratio(), c.cpuMillisPerScrape(), scaleTo.toMillis() / 1e3,
                    c.extraPercentAt(scaleTo), c.ratioAt(scaleTo));
        }
        System.out.println("ctrlCPU = utime+stime of the controller JVM over the phase, % of one core; us/beat = the"
                + " same per heartbeat answered; loops/GC/other = its event-loop threads, collector + VM thread, the rest"
                + " (the metrics endpoint's threads among them); srv p99 = heartbeat handling inside the controller;"
                + " scrape50 = median scrape as the scraper timed it (request to last byte); loadCPU = this JVM (agents,"
                + " scraper). A/B per beat = A's CPU per heartbeat over B's; ms/scrape = (A's CPU - B's CPU for as many"
                + " heartbeats) / A's scrapes; at " + text(scaleTo) + " = that per " + text(scaleTo)
                + (every.equals(scaleTo) ? "" : ", derived from scrapes every " + text(every) + " (not measured at "
                        + text(scaleTo) + ")") + ".");
        System.out.println();
        Summary summary = new Summary("scrape under load: " + agents + " agents, " + vms + " VMs, scraped every "
                + text(every) + " (A) or not (B)");
        summary.add("A", "controller CPU, % of one core", all.stream().filter(Measured::scraping)
                .mapToDouble(m -> m.phase().cpuPercent()), null);
        summary.add("B", "controller CPU, % of one core", all.stream().filter(m -> !m.scraping())
                .mapToDouble(m -> m.phase().cpuPercent()), null);
        summary.add("A", "server p99, ms", all.stream().filter(Measured::scraping)
                .mapToDouble(m -> m.server().p99() / 1e6), null);
        summary.add("B", "server p99, ms", all.stream().filter(m -> !m.scraping())
                .mapToDouble(m -> m.server().p99() / 1e6), null);
        summary.add("A", "scrape as timed by the scraper (p50), ms", all.stream().filter(Measured::scraping)
                .mapToDouble(m -> m.scrapeTimes().percentileNanos(50) / 1e6), null);
        summary.add("A/B", "CPU ratio, scraped every " + text(every), costs.stream().mapToDouble(ScrapeCost::ratio), null);
        summary.add("A-B", "controller CPU per scrape, ms", costs.stream().mapToDouble(ScrapeCost::cpuMillisPerScrape),
                null);
        String derived = every.equals(scaleTo) ? "" : " (derived)";
        summary.add("A-B", "added CPU at one scrape/" + text(scaleTo) + ", %" + derived,
                costs.stream().mapToDouble(c -> c.extraPercentAt(scaleTo)), null);
        summary.add("A/B", "CPU ratio at one scrape/" + text(scaleTo) + derived,
                costs.stream().mapToDouble(c -> c.ratioAt(scaleTo)), null);
        summary.add("all", "heartbeat errors (sum)", java.util.stream.DoubleStream.of(
                all.stream().mapToLong(Measured::errors).sum()), Summary.atMost(0));
        summary.add("all", "scrape failures (sum)", java.util.stream.DoubleStream.of(
                all.stream().mapToLong(Measured::scrapeFailures).sum()), Summary.atMost(0));
        summary.add("all", "load average (1 min) at phase ends", all.stream().mapToDouble(Measured::loadAverage), null);
        summary.print();
    }

    private static String text(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+")[0]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What one scrape brought: the body as sent, and when checked, what the text holds. */
    record Scrape(int status, String contentType, String encoding, long nanos, long sentBytes, long textBytes,
                  long lines, long hosts, long vms) {}

    /**
     * A Prometheus stand-in: the JDK's HTTP client (HTTP/1.1, one connection kept alive) asking for the metrics as
     * Prometheus does, one scrape at a time on its own thread, at a fixed rate while started.
     */
    static final class Scraper implements AutoCloseable {
        private final URI uri;
        private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-scraper");
            t.setDaemon(true);
            return t;
        });
        private ScheduledFuture<?> running;
        final AtomicInteger started = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();
        final LatencyHistogram times = new LatencyHistogram();

        Scraper(URI uri) {
            this.uri = uri;
        }

        /** Scrapes every {@code every} from now on (nothing changes if it already does). */
        synchronized void start(Duration every) {
            if (running == null) {
                running = thread.scheduleAtFixedRate(() -> {
                    started.incrementAndGet();
                    try {
                        Scrape s = scrape(false);
                        if (s.status() != 200 || s.sentBytes() == 0) {
                            failed.incrementAndGet();
                        } else {
                            times.record(s.nanos());
                        }
                    } catch (IOException | RuntimeException e) {
                        failed.incrementAndGet();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, 0, every.toNanos(), TimeUnit.NANOSECONDS);
            }
        }

        /** Stops scraping; returns once a scrape in progress has ended. */
        synchronized void stop() throws InterruptedException, ExecutionException {
            if (running != null) {
                running.cancel(false);
                running = null;
                thread.submit(() -> { }).get(); // runs after the scrape in progress, if any
            }
        }

        /**
         * One scrape, read in full, which must hold the fleet: a series of {@code virtfleet_host_memory_total_bytes} per host and of
         * {@code virtfleet_vm_info} per VM.
         */
        Scrape check(int hosts, int vms) throws IOException, InterruptedException, ExecutionException {
            Scrape s = thread.submit(() -> scrape(true)).get();
            if (s.status() != 200 || s.hosts() != hosts || s.vms() != vms) {
                throw new IllegalStateException("the scrape of " + uri + " answered " + s.status() + " with " + s.hosts()
                        + " hosts and " + s.vms() + " VMs; expected 200 with " + hosts + " and " + vms);
            }
            return s;
        }

        private Scrape scrape(boolean read) throws IOException, InterruptedException {
            HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
                    .header("Accept", PROMETHEUS_ACCEPT).header("Accept-Encoding", "gzip").GET().build();
            long t0 = System.nanoTime();
            HttpResponse<byte[]> response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
            long nanos = System.nanoTime() - t0;
            byte[] body = response.body();
            String type = response.headers().firstValue("Content-Type").orElse("");
            String encoding = response.headers().firstValue("Content-Encoding").orElse("identity");
            if (!read) {
                return new Scrape(response.statusCode(), type, encoding, nanos, body.length, -1, -1, -1, -1);
            }
            byte[] text;
            try (InputStream in = encoding.equals("gzip") ? new GZIPInputStream(new ByteArrayInputStream(body))
                    : new ByteArrayInputStream(body)) {
                text = in.readAllBytes();
            }
            long lines = 0;
            long hostSeries = 0;
            long vmSeries = 0;
            for (String line : new String(text, StandardCharsets.UTF_8).split("\n")) {
                lines++;
                if (line.startsWith("virtfleet_host_memory_total_bytes{")) {
                    hostSeries++;
                } else if (line.startsWith("virtfleet_vm_info{")) {
                    vmSeries++;
                }
            }
            return new Scrape(response.statusCode(), type, encoding, nanos, body.length, text.length, lines, hostSeries,
                    vmSeries);
        }

        @Override
        public void close() {
            thread.shutdownNow();
        }
    }
}
