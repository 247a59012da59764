package io.virtfleet.bench;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.controller.testkit.HypervisorRack.Host;
import io.virtfleet.controller.testkit.HypervisorRack.LibvirtListening;
import io.virtfleet.controller.testkit.LibvirtPki;
import io.virtfleet.controller.testkit.MigrationRig;
import io.virtfleet.agent.storage.RbdDisks;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.MigrateDomainRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.StorageTier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A live migration of a running Ceph-backed VM under TCG: the agent's MigrateDomain against {@code virsh migrate
 * --live} run by hand with the same flags on the same hosts, in the same run (BENCHMARKS.md §11; goal: the agent
 * takes at most 1.2x virsh's time).
 *
 * <p>Two hypervisors of the test kit ({@link MigrationRig}): network namespaces on one underlay, real libvirtds
 * listening on TLS only with certificates of a fleet CA made for the run, a real single-node Ceph; each host's agent
 * API in this JVM. One VM, {@code bench} (1 GiB by default, its disk on Ceph), boots the Debian installer's kernel and
 * keeps running. Each round moves it four times, both ways with both tools, so neither gets a direction or a warmer
 * cache to itself: the agent hv1 to hv2, virsh hv2 to hv1, virsh hv1 to hv2, the agent hv2 to hv1. virsh gets what
 * the agent uses: {@code --live --tls --persistent}, the target's definition as {@code --xml} and
 * {@code --persistent-xml}, QEMU's stream to the target's address ({@code --migrateuri}), the same client
 * certificate ({@code pkipath}). Timed: from the call (the process's start) to the agent's last event (virsh's
 * exit); downtime as libvirt reports it (the agent's last event; {@code virsh domjobinfo --completed}).
 */
public final class MigrationBench {
    private static final String USAGE = "usage: MigrationBench [--rounds N] [--warmups N] [--memory MiB]\n"
            + "  (defaults 5, 1, 1024; about 1 minute per round under TCG; needs root)";
    private static final String VM = "bench";
    private static final Pattern DOWNTIME = Pattern.compile("Total downtime:\\s+(\\d+)\\s+ms");

    private MigrationBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("rounds", "warmups", "memory"), USAGE);
        int rounds = a.integer("rounds", 5);
        int warmups = a.integer("warmups", 1);
        long memory = a.integer("memory", 1024) * Bytes.MIB;
        Path work = Files.createTempDirectory("vf-migration-bench");
        List<long[]> agent = new ArrayList<>(); // {total ms, downtime ms}
        List<long[]> virsh = new ArrayList<>();
        long t0 = System.nanoTime();
        LibvirtPki fleet = LibvirtPki.create(work.resolve("fleet-ca"));
        try (MigrationRig rig = MigrationRig.start(work.resolve("rack"), "10.249.5", List.of("hv1", "hv2"),
                host -> new LibvirtListening(fleet, false),
                what -> System.out.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, what))) {
            Host hv1 = rig.host("hv1");
            Host hv2 = rig.host("hv2");
            new RbdDisks(rig.rack().cephSettings()).ensure(StorageTier.STORAGE_TIER_SATA, VM, Bytes.GIB);
            String xml = rig.render(VM, StorageTier.STORAGE_TIER_SATA, memory);
            Path xmlFile = Files.writeString(work.resolve(VM + ".xml"), xml);
            Command.of("virsh", "-c", hv2.node().uri(), "define", xmlFile.toString()).runChecked(); // its replica
            rig.startOn("hv1", VM, xml);
            for (int round = 1; round <= warmups + rounds; round++) {
                boolean measured = round > warmups;
                long[] a1 = byAgent(rig, hv1, hv2, xml);
                long[] v1 = byVirsh(hv2, hv1, xmlFile);
                long[] v2 = byVirsh(hv1, hv2, xmlFile);
                long[] a2 = byAgent(rig, hv2, hv1, xml);
                System.out.printf(Locale.ROOT, "round %d%s: agent %d ms (downtime %d ms), %d ms (%d ms); virsh %d ms (%d ms),"
                        + " %d ms (%d ms)%n", round, measured ? "" : " (warm-up)", a1[0], a1[1], a2[0], a2[1], v1[0], v1[1],
                        v2[0], v2[1]);
                if (measured) {
                    agent.addAll(List.of(a1, a2));
                    virsh.addAll(List.of(v1, v2));
                }
            }
        } finally {
            Bench.deleteTree(work);
        }
        long agentTotal = median(agent, 0);
        long virshTotal = median(virsh, 0);
        System.out.printf(Locale.ROOT, "%n%-28s %10s %10s %12s%n", "live migration, " + memory / Bytes.MIB + " MiB VM",
                "median ms", "spread", "downtime ms");
        System.out.printf(Locale.ROOT, "%-28s %10d %10s %12d%n", "agent (MigrateDomain)", agentTotal, spread(agent, 0),
                median(agent, 1));
        System.out.printf(Locale.ROOT, "%-28s %10d %10s %12d%n", "virsh migrate --live --tls", virshTotal,
                spread(virsh, 0), median(virsh, 1));
        System.out.printf(Locale.ROOT, "RESULT migration agent_ms=%d agent_downtime_ms=%d virsh_ms=%d virsh_downtime_ms=%d"
                + " runs=%d%n", agentTotal, median(agent, 1), virshTotal, median(virsh, 1), agent.size());
        System.out.printf(Locale.ROOT, "RATIO migration agent/virsh=%.2f (goal <= 1.20)%n", agentTotal / (double) virshTotal);
    }

    /** The agent of {@code from} moves the VM to {@code to}: {total ms, downtime ms}. */
    private static long[] byAgent(MigrationRig rig, Host from, Host to, String xml) {
        long start = System.nanoTime();
        Iterator<MigrationProgress> events = AgentGrpc.newBlockingStub(rig.agent(from.name()).channel())
                .withDeadlineAfter(10, TimeUnit.MINUTES).migrateDomain(MigrateDomainRequest.newBuilder().setVmName(VM)
                        .setTargetHost(to.name()).setTargetAddress(to.address()).setTargetDomainXml(xml).build());
        MigrationProgress last = null;
        while (events.hasNext()) {
            last = events.next();
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        if (last == null || last.getPhase() != MigrationProgress.Phase.PHASE_DONE) {
            throw new IllegalStateException("the agent's migration ended without PHASE_DONE: " + last);
        }
        return new long[] {ms, last.getDowntimeMs()};
    }

    /** {@code virsh migrate} on {@code from}, as an operator would type it: {total ms, downtime ms}. */
    private static long[] byVirsh(Host from, Host to, Path xml) {
        long start = System.nanoTime();
        Command.of("virsh", "-c", from.node().uri(), "migrate", "--live", "--tls", "--persistent", VM,
                "qemu+tls://" + to.address() + "/system?pkipath=" + from.libvirtTlsDirectory(),
                "--migrateuri", "tcp://" + to.address(), "--xml", xml.toString(), "--persistent-xml", xml.toString())
                .timeout(Duration.ofMinutes(10)).runChecked();
        long ms = (System.nanoTime() - start) / 1_000_000;
        String info = Command.of("virsh", "-c", from.node().uri(), "domjobinfo", "--completed", VM).runChecked().stdout();
        Matcher m = DOWNTIME.matcher(info);
        if (!m.find()) {
            throw new IllegalStateException("no downtime in virsh domjobinfo --completed:\n" + info);
        }
        return new long[] {ms, Long.parseLong(m.group(1))};
    }

    private static long median(List<long[]> runs, int field) {
        long[] values = runs.stream().mapToLong(r -> r[field]).sorted().toArray();
        return Bench.percentile(values, 50);
    }

    private static String spread(List<long[]> runs, int field) {
        long[] values = runs.stream().mapToLong(r -> r[field]).sorted().toArray();
        return values.length == 0 ? "-" : values[0] + "-" + values[values.length - 1];
    }
}
