package io.virtfleet.controller.definitions;

import io.virtfleet.agent.sync.DefinitionsClone;
import io.virtfleet.common.security.TlsCredentials;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import jdk.jfr.consumer.RecordingStream;

/**
 * What one agent pull costs, both sides in one JVM: the git server over a definitions repository with some
 * history, and one agent's clone pulling each new commit. Prints, per pull, the wall time, the CPU of the pulling
 * thread (the agent's side), the CPU of the whole process (both sides) and the TLS handshakes completed (the JDK's
 * {@code jdk.TLSHandshake} events; client and server each emit one). Not a test: a tool to compare changes.
 *
 * <p>usage: PullCostProbe [pulls (default 200)] [history commits (default 300)] [pause ms between pulls (default 0)];
 * {@code -Dprobe.packServer=true} packs the server's repository (JGit gc) after the history is committed,
 * {@code -Dprobe.verbose=true} prints each handshake. Run it with the agent unit's JVM flags to see the agent's side
 * as on a hypervisor; the git server's figure is then C1-compiled too, unlike the controller's.
 */
public final class PullCostProbe {
    public static void main(String[] args) throws Exception {
        int pulls = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int history = args.length > 1 ? Integer.parseInt(args[1]) : 300;
        long pause = args.length > 2 ? Long.parseLong(args[2]) : 0;
        Path work = Files.createTempDirectory("pull-cost");
        LongAdder handshakes = new LongAdder();
        try (RecordingStream jfr = new RecordingStream();
             GitHttpFixture fixture = GitHttpFixture.start(work, GitHttpServer.Limits.defaults())) {
            jfr.enable("jdk.TLSHandshake");
            jfr.onEvent("jdk.TLSHandshake", e -> {
                handshakes.increment();
                if (Boolean.getBoolean("probe.verbose")) {
                    System.out.println("handshake " + e.getStartTime() + " " + e.getThread().getJavaName() + " "
                            + e.getString("peerHost") + ":" + e.getInt("peerPort") + " " + e.getString("cipherSuite"));
                }
            });
            jfr.startAsync();
            for (int i = 0; i < history; i++) {
                fixture.commit("history " + i, Map.of("etc/libvirt/qemu/vm" + (i % 20) + ".xml",
                        GitHttpFixture.domainXml("vm" + (i % 20), 512 + i)), Set.of());
            }
            if (Boolean.getBoolean("probe.packServer")) {
                try (org.eclipse.jgit.api.Git git = org.eclipse.jgit.api.Git.open(fixture.repo.root().toFile())) {
                    git.gc().call();
                }
            }
            TlsCredentials agent = fixture.agent("hv1");
            DefinitionsClone clone = fixture.cloneFor(agent, work.resolve("hv1/srv/common"));
            clone.pull();
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            List<Double> wall = new ArrayList<>();
            List<Double> agentCpu = new ArrayList<>();
            List<Double> processCpu = new ArrayList<>();
            long handshakesBefore = handshakes.sum();
            List<Double> serverCpu = new ArrayList<>();
            for (int i = 0; i < pulls; i++) {
                fixture.commit("change " + i, Map.of("etc/libvirt/qemu/web.xml", GitHttpFixture.domainXml("web", 1000 + i)),
                        Set.of());
                long t0 = System.nanoTime();
                long c0 = threads.getCurrentThreadCpuTime();
                long p0 = os.getProcessCpuTime();
                long g0 = gitServerCpu(threads);
                clone.pull();
                processCpu.add((os.getProcessCpuTime() - p0) / 1e6);
                agentCpu.add((threads.getCurrentThreadCpuTime() - c0) / 1e6);
                serverCpu.add((gitServerCpu(threads) - g0) / 1e6);
                wall.add((System.nanoTime() - t0) / 1e6);
                if (pause > 0) {
                    Thread.sleep(pause);
                }
            }
            Thread.sleep(1500); // the flight recorder's stream lags about a second
            List<Double> last = wall.subList(pulls / 2, pulls);
            System.out.printf("pulls %d (history %d commits, pause %d ms); second half, p50: wall %.2f ms, agent thread CPU %.2f ms,"
                            + " process CPU %.2f ms (mean %.2f, git server's threads p50 %.2f); TLS handshake events per pull %.2f%n", pulls, history, pause,
                    p50(last), p50(agentCpu.subList(pulls / 2, pulls)), p50(processCpu.subList(pulls / 2, pulls)), mean(processCpu.subList(pulls / 2, pulls)), p50(serverCpu.subList(pulls / 2, pulls)),
                    (handshakes.sum() - handshakesBefore) / (double) pulls);
        }
    }

    /** CPU of the git server's threads (its event loop and its workers), nanoseconds. */
    private static long gitServerCpu(ThreadMXBean threads) {
        long sum = 0;
        for (java.lang.management.ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (t != null && t.getThreadName().startsWith("vf-git-http")) {
                sum += Math.max(0, threads.getThreadCpuTime(t.getThreadId()));
            }
        }
        return sum;
    }

    private static double mean(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).average().orElse(0);
    }

    private static double p50(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2);
    }
}
