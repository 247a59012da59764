package io.virtfleet.bench;

import io.virtfleet.common.logging.Logging;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.registry.HostRecord;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Goal 1 of the footprint issue: a real agent, as its own JVM, heartbeating every second about a libvirt
 * test-driver hypervisor with 50 domains, must stay within 64 MiB RSS and 1 % of one core.
 *
 * <p>The controller runs in this JVM. For each JVM flag set ("variant") the benchmark starts an agent and, as
 * the baseline, an idle JVM ({@link IdleMain}) with exactly the same flags and class path, all at once so they
 * share the machine's noise. After a warm-up it samples /proc/PID/status (VmRSS) and /proc/PID/stat
 * (utime + stime) over the measured window, and counts the heartbeats the controller saw from each agent.
 */
public final class AgentFootprintBench {
    /**
     * The flag set chosen for the agent's systemd unit (see BENCHMARKS.md for how it was picked). The last
     * item is an environment variable, which the unit sets with {@code Environment=}.
     */
    static final String TUNED_FLAGS = String.join(" ",
            "-Xms8m -Xmx32m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:ReservedCodeCacheSize=16m -XX:MaxMetaspaceSize=64m",
            "-Xss512k -XX:MaxDirectMemorySize=32m -Dio.netty.allocator.type=unpooled MALLOC_ARENA_MAX=2");
    /** The starting point the issue suggested, kept for comparison. */
    static final String ISSUE_FLAGS = String.join(" ",
            "-Xms16m -Xmx48m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=16m",
            "-XX:MaxMetaspaceSize=64m -Xss512k -XX:MaxDirectMemorySize=32m",
            "-Dio.netty.allocator.numDirectArenas=1 -Dio.netty.allocator.numHeapArenas=1");

    private static final double GOAL_RSS_MIB = 64;
    private static final double GOAL_CPU_PERCENT = 1;
    private static final String USAGE = String.join("\n",
            "AgentFootprintBench [--warmup 20s] [--max-warmup 300s] [--measure 60s] [--windows 3] [--sample 1s] [--domains 50]",
            "    [--agent-classpath CP] [--bench-classpath CP] [--work-dir DIR] [--restart false]",
            "    [--variant LABEL=JVM FLAGS]...   (default: tuned=<chosen flags>, issue=<the issue's suggestion>,",
            "                                       default=<no flags>; NAME=VALUE sets an environment variable)",
            "  --restart true: after enrolling, restart each agent and measure it running on its stored certificate",
            "  --measure is cut into --windows equal windows; the summary gives the median and spread over them;",
            "  after --warmup the benchmark waits (--max-warmup at most) until every agent's JIT compiler is done");

    private AgentFootprintBench() {}

    /** Starts (again) the agent of a variant, with the same arguments. */
    private interface AgentStarter {
        ChildJvm start() throws java.io.IOException;
    }

    /** One flag set under test: its agent, its idle baseline, and what was measured. */
    private static final class Variant {
        final String label;
        final List<String> flags;
        final String hostName;
        ChildJvm agent;
        AgentStarter restartAgent;
        ChildJvm idle;
        ChildJvm idleVirt;
        final List<ProcStats.Memory> agentMemory = new ArrayList<>();
        final List<ProcStats.Memory> idleMemory = new ArrayList<>();
        final List<ProcStats.Memory> idleVirtMemory = new ArrayList<>();
        long agentCpu0;
        long idleCpu0;
        long agentCpuNanos;
        long idleCpuNanos;
        long lastSeenNanos = Long.MIN_VALUE;
        int heartbeats;
        long maxGapNanos;
        /** Per measured window: the agent's and the idle JVM's CPU (% of one core) and the agent's mean RSS (MiB). */
        final List<Double> agentCpuPerWindow = new ArrayList<>();
        final List<Double> idleCpuPerWindow = new ArrayList<>();
        final List<Double> agentRssPerWindow = new ArrayList<>();
        /** Per measured window: the agent's CPU in its JIT compiler threads (% of one core). */
        final List<Double> agentJitPerWindow = new ArrayList<>();
        long agentJit0;
        /** Serialized size of the agent's latest report as the controller holds it, bytes. */
        long reportBytes = -1;

        Variant(String label, List<String> flags, String hostName) {
            this.label = label;
            this.flags = flags;
            this.hostName = hostName;
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("warmup", "measure", "sample", "domains", "agent-classpath",
                "bench-classpath", "work-dir", "variant", "restart", "windows", "max-warmup"), USAGE);
        Duration maxWarmup = a.duration("max-warmup", "300s");
        int windows = a.integer("windows", 3);
        boolean restart = Boolean.parseBoolean(a.string("restart", "false"));
        Duration warmup = a.duration("warmup", "20s");
        Duration measure = a.duration("measure", "60s");
        Duration sample = a.duration("sample", "1s");
        int domains = a.integer("domains", 50);
        String agentClasspath = a.string("agent-classpath", System.getProperty("java.class.path"));
        String benchClasspath = a.string("bench-classpath", Path.of(IdleMain.class.getProtectionDomain()
                .getCodeSource().getLocation().toURI()).toString());
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-agent-bench");
        List<String> variantSpecs = a.all("variant").isEmpty()
                ? List.of("tuned=" + TUNED_FLAGS, "issue=" + ISSUE_FLAGS, "default=") : a.all("variant");

        Logging.configure(false);
        List<Variant> variants = new ArrayList<>();
        for (String spec : variantSpecs) {
            int eq = spec.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--variant wants LABEL=FLAGS, found '" + spec + "'");
            }
            String label = spec.substring(0, eq);
            List<String> flags = Arrays.stream(spec.substring(eq + 1).trim().split("\\s+"))
                    .filter(s -> !s.isEmpty()).toList();
            variants.add(new Variant(label, flags, variants.isEmpty() ? "hvb" : "hvb-" + variants.size()));
        }

        TestDriverNode node = new TestDriverNode("hvb", 32, 128 * 1024);
        for (int d = 1; d <= domains; d++) {
            node.domain(String.format(Locale.ROOT, "vm%03d", d), 1 + d % 4, 512L * (1 + d % 8), d % 5 != 0);
        }
        String uri = node.writeTo(work.resolve("node"));
        Path emptyConfig = Files.writeString(work.resolve("empty.conf"), "");

        System.out.printf(Locale.ROOT, "agent footprint: %d domains, heartbeat 1s, warm-up %ds, measured %ds, %d vCPU%n",
                domains, warmup.toSeconds(), measure.toSeconds(), Runtime.getRuntime().availableProcessors());
        try (Controller controller = Controller.create(ControllerConfig.of(new InetSocketAddress("127.0.0.1", 0),
                Duration.ofSeconds(1), Duration.ofSeconds(5), work.resolve("controller"))).start()) {
            try {
                for (Variant v : variants) {
                    Path dir = work.resolve(v.hostName);
                    Files.createDirectories(dir.resolve("images"));
                    List<String> agentArgs = List.of(
                            "--controller", "127.0.0.1:" + controller.port(),
                            "--host-name", v.hostName,
                            "--libvirt-uri", uri,
                            "--heartbeat-interval", "1s",
                            "--listen", "127.0.0.1:0",
                            "--state-dir", dir.resolve("state").toString(),
                            "--images-dir", dir.resolve("images").toString(),
                            "--config", emptyConfig.toString(),
                            "--join-token", controller.enrollments().createJoinToken(
                                    io.virtfleet.proto.v1.CreateJoinTokenRequest.newBuilder()
                                            .setHostName(v.hostName).build()).getToken());
                    v.restartAgent = () -> ChildJvm.start(v.label + "/agent", v.flags, agentClasspath,
                            "io.virtfleet.agent.AgentMain", agentArgs, dir.resolve("agent.log"), false);
                    v.agent = v.restartAgent.start();
                    v.idle = ChildJvm.start(v.label + "/idle", v.flags, benchClasspath + ":" + agentClasspath,
                            IdleMain.class.getName(), List.of(), dir.resolve("idle.log"), false);
                    v.idleVirt = ChildJvm.start(v.label + "/idle+libvirt", v.flags,
                            benchClasspath + ":" + agentClasspath, IdleMain.class.getName(), List.of(uri),
                            dir.resolve("idle-libvirt.log"), false);
                }
                awaitRegistered(controller, variants, Duration.ofSeconds(90));
                if (restart) {
                    // Measure an agent as it runs for most of its life: started with the certificate it already
                    // has (no enrollment, so no key generation, CSR or join token in this process).
                    for (Variant v : variants) {
                        v.agent.close();
                        controller.registry().forget(v.hostName);
                        v.agent = v.restartAgent.start();
                    }
                    awaitRegistered(controller, variants, Duration.ofSeconds(90));
                    System.out.println("all agents restarted with their stored certificates and registered again");
                }
                System.out.println("all agents registered; warming up");
                sleepChecking(variants, warmup);
                settle(variants, warmup, maxWarmup);
                for (int w = 0; w < windows; w++) {
                    measure(controller, variants, measure.dividedBy(windows), sample);
                }
            } catch (RuntimeException e) {
                System.err.println("benchmark failed; logs kept in " + work);
                throw e;
            } finally {
                for (Variant v : variants) {
                    for (ChildJvm child : new ChildJvm[] {v.agent, v.idle, v.idleVirt}) {
                        if (child != null) {
                            child.close();
                        }
                    }
                }
            }
        }
        report(variants, measure);
        if (a.string("work-dir", null) == null) {
            deleteTree(work);
        }
    }

    private static void awaitRegistered(Controller controller, List<Variant> variants, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!variants.stream().allMatch(v -> controller.registry().get(v.hostName).isPresent())) {
            checkAlive(variants);
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("agents did not register within " + timeout);
            }
            Thread.sleep(100);
        }
    }

    private static void sleepChecking(List<Variant> variants, Duration d) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            checkAlive(variants);
            Thread.sleep(Math.min(500, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
        }
    }

    /**
     * Waits in slices of 10 s until every agent's JIT compiler threads used at most 0.1 % of a core over the last
     * one, or until {@code maxWarmup} has passed since the agents registered. At one heartbeat a second the
     * agent's per-heartbeat code reaches the compiler's invocation thresholds only after minutes, and until then
     * it runs partly interpreted: a window measured earlier reads the warm-up, not the steady state.
     */
    private static void settle(List<Variant> variants, Duration warmedUp, Duration maxWarmup) throws InterruptedException {
        long waited = warmedUp.toSeconds();
        while (true) {
            java.util.Map<Variant, Long> before = new java.util.HashMap<>();
            for (Variant v : variants) {
                before.put(v, ProcStats.threadCpuNanos(v.agent.pid()).get(ProcStats.ThreadKind.JIT));
            }
            sleepChecking(variants, Duration.ofSeconds(10));
            waited += 10;
            double worst = 0;
            for (Variant v : variants) {
                long jit = ProcStats.threadCpuNanos(v.agent.pid()).get(ProcStats.ThreadKind.JIT) - before.get(v);
                worst = Math.max(worst, jit / 1e9 / 10 * 100);
            }
            System.out.printf(Locale.ROOT, "warm-up %d s: busiest agent JIT %.2f%% of one core%n", waited, worst);
            if (worst <= 0.1) {
                return;
            }
            if (waited >= maxWarmup.toSeconds()) {
                System.out.printf(Locale.ROOT, "agents' JIT still busy after %d s: measuring anyway%n", waited);
                return;
            }
        }
    }

    private static void checkAlive(List<Variant> variants) {
        for (Variant v : variants) {
            for (ChildJvm child : new ChildJvm[] {v.agent, v.idle, v.idleVirt}) {
                if (!child.process.isAlive()) {
                    throw new IllegalStateException(child.label + " exited with " + child.process.exitValue()
                            + "; end of its log:\n" + child.logTail(30));
                }
            }
        }
    }

    private static void measure(Controller controller, List<Variant> variants, Duration window, Duration sample)
            throws InterruptedException {
        java.util.Map<Variant, Integer> samplesBefore = new java.util.HashMap<>();
        for (Variant v : variants) {
            v.agentCpu0 = ProcStats.cpuNanos(v.agent.pid());
            v.agentJit0 = ProcStats.threadCpuNanos(v.agent.pid()).get(ProcStats.ThreadKind.JIT);
            v.idleCpu0 = ProcStats.cpuNanos(v.idle.pid());
            if (v.lastSeenNanos == Long.MIN_VALUE) {
                v.lastSeenNanos = lastSeen(controller, v);
            }
            samplesBefore.put(v, v.agentMemory.size());
        }
        long start = System.nanoTime();
        long end = start + window.toNanos();
        long nextSample = start;
        // Poll the registry far faster than the heartbeat rate: each new lastSeen is one heartbeat the controller took.
        while (System.nanoTime() < end) {
            long now = System.nanoTime();
            if (now >= nextSample) {
                checkAlive(variants);
                for (Variant v : variants) {
                    v.agentMemory.add(ProcStats.memory(v.agent.pid()));
                    v.idleMemory.add(ProcStats.memory(v.idle.pid()));
                    v.idleVirtMemory.add(ProcStats.memory(v.idleVirt.pid()));
                }
                nextSample += sample.toNanos();
            }
            for (Variant v : variants) {
                long seen = lastSeen(controller, v);
                if (seen != v.lastSeenNanos) {
                    v.heartbeats++;
                    v.maxGapNanos = Math.max(v.maxGapNanos, seen - v.lastSeenNanos);
                    v.lastSeenNanos = seen;
                }
            }
            Thread.sleep(20);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        for (Variant v : variants) {
            long agentCpu = ProcStats.cpuNanos(v.agent.pid()) - v.agentCpu0;
            long idleCpu = ProcStats.cpuNanos(v.idle.pid()) - v.idleCpu0;
            v.agentCpuNanos += agentCpu;
            v.idleCpuNanos += idleCpu;
            v.agentCpuPerWindow.add(agentCpu / 1e9 / seconds * 100);
            v.agentJitPerWindow.add((ProcStats.threadCpuNanos(v.agent.pid()).get(ProcStats.ThreadKind.JIT) - v.agentJit0)
                    / 1e9 / seconds * 100);
            v.idleCpuPerWindow.add(idleCpu / 1e9 / seconds * 100);
            List<ProcStats.Memory> last = v.agentMemory.subList(samplesBefore.get(v), v.agentMemory.size());
            v.agentRssPerWindow.add(meanMiB(last, ProcStats.Memory::rssKiB));
            v.reportBytes = controller.registry().get(v.hostName).map(r -> (long) r.report().getSerializedSize()).orElse(-1L);
        }
    }

    private static long lastSeen(Controller controller, Variant v) {
        Optional<HostRecord> r = controller.registry().get(v.hostName);
        return r.map(HostRecord::lastSeenNanos).orElse(Long.MIN_VALUE);
    }

    private static void report(List<Variant> variants, Duration window) {
        double seconds = window.toNanos() / 1e9;
        System.out.println();
        System.out.printf(Locale.ROOT, "%-10s %9s %9s %9s %9s %9s %9s %7s %8s %8s %6s %8s %s%n", "variant",
                "agentRSS", "(max)", "(anon)", "(private)", "idleRSS", "+libvirt", "ratio", "agentCPU", "idleCPU", "beats", "maxGap",
                "goals (<=64MiB, <=1%)");
        for (Variant v : variants) {
            double agentRss = meanMiB(v.agentMemory, ProcStats.Memory::rssKiB);
            double agentMax = maxMiB(v.agentMemory);
            double agentAnon = meanMiB(v.agentMemory, ProcStats.Memory::anonKiB);
            double agentPrivate = meanMiB(v.agentMemory, ProcStats.Memory::privateKiB);
            double idleRss = meanMiB(v.idleMemory, ProcStats.Memory::rssKiB);
            double idleVirtRss = meanMiB(v.idleVirtMemory, ProcStats.Memory::rssKiB);
            double agentCpu = v.agentCpuNanos / 1e9 / seconds * 100;
            double idleCpu = v.idleCpuNanos / 1e9 / seconds * 100;
            boolean met = agentMax <= GOAL_RSS_MIB && agentCpu <= GOAL_CPU_PERCENT;
            System.out.printf(Locale.ROOT,
                    "%-10s %6.1fMiB %6.1fMiB %6.1fMiB %6.1fMiB %6.1fMiB %6.1fMiB %6.2fx %7.2f%% %7.2f%% %6d %6.2fs %s%n",
                    v.label, agentRss, agentMax, agentAnon, agentPrivate, idleRss, idleVirtRss, agentRss / idleRss,
                    agentCpu, idleCpu,
                    v.heartbeats, v.maxGapNanos / 1e9, met ? "MET" : "NOT MET");
            System.out.printf(Locale.ROOT,
                    "RESULT agent-footprint variant=%s rss_mib=%.1f rss_max_mib=%.1f anon_mib=%.1f private_mib=%.1f"
                            + " idle_rss_mib=%.1f"
                            + " idle_libvirt_rss_mib=%.1f rss_ratio=%.2f cpu_pct=%.2f idle_cpu_pct=%.2f cpu_minus_idle_pct=%.2f heartbeats=%d"
                            + " window_s=%.0f heartbeat_hz=%.2f max_gap_s=%.2f flags=\"%s\"%n",
                    v.label, agentRss, agentMax, agentAnon, agentPrivate, idleRss, idleVirtRss, agentRss / idleRss,
                    agentCpu, idleCpu, agentCpu - idleCpu, v.heartbeats, seconds, v.heartbeats / seconds, v.maxGapNanos / 1e9,
                    String.join(" ", v.flags));
        }
        System.out.println("RSS: mean VmRSS over the window (max = highest sample; anon = RssAnon, not file-backed;"
                + " private = pages no other process shares)."
                + " CPU: utime+stime over the window, % of one core. ratio = agent RSS / idle JVM RSS, same flags.");
        System.out.println("+libvirt: the idle JVM after opening the same test:/// connection (libvirt, JNA and the"
                + " simulated hypervisor, which the test driver keeps inside the process).");
        System.out.println();
        Summary summary = new Summary("agent footprint: 1 s heartbeat, test-driver node");
        for (Variant v : variants) {
            summary.add(v.label, "agent CPU, % of one core", v.agentCpuPerWindow.stream().mapToDouble(Double::doubleValue),
                    Summary.atMost(GOAL_CPU_PERCENT));
            summary.add(v.label, "  of which JIT compiler, %", v.agentJitPerWindow.stream().mapToDouble(Double::doubleValue),
                    null);
            summary.add(v.label, "  idle JVM CPU (same flags), %", v.idleCpuPerWindow.stream().mapToDouble(Double::doubleValue),
                    null);
            summary.add(v.label, "agent RSS, MiB", v.agentRssPerWindow.stream().mapToDouble(Double::doubleValue),
                    Summary.atMost(GOAL_RSS_MIB));
            summary.add(v.label, "  report size, bytes", java.util.stream.DoubleStream.of(v.reportBytes), null);
            summary.add(v.label, "  heartbeats per s", java.util.stream.DoubleStream.of(v.heartbeats / seconds), null);
        }
        summary.print();
    }

    private static double meanMiB(List<ProcStats.Memory> samples, java.util.function.ToLongFunction<ProcStats.Memory> f) {
        return samples.stream().mapToLong(f).average().orElse(0) / 1024;
    }

    private static double maxMiB(List<ProcStats.Memory> samples) {
        return samples.stream().mapToLong(ProcStats.Memory::rssKiB).max().orElse(0) / 1024.0;
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
