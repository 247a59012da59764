package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;

import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.controller.testkit.NamespacedAgent;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.controller.testkit.Underlay;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.libvirt.Connect;

/**
 * Issue 4's goal for {@code vm create}: end to end, virtfleet may take at most 30 % longer than the tools it
 * drives would take by hand for the same VM.
 *
 * <p>One simulated hypervisor: a real libvirtd (QEMU/TCG) in a network namespace of its own, cabled to an
 * underlay; an embedded controller and one enrolled agent in this JVM; for the Ceph tiers, a real single-node Ceph
 * on the underlay. For each tier, N rounds; each round creates one VM through the Fleet API as an operator does
 * (mutual TLS; wall time from the request to the end of the progress stream: placement, claim, git commit of the
 * definition, disk, LAN, define, start) and one equivalent VM (same size and definition, another name) with the
 * tools alone, timed around each program: {@code qemu-img create} + {@code virsh define} + {@code virsh start} on
 * the same libvirtd. The two alternate which goes first, and both VMs are removed (untimed) before the next round,
 * so every round starts from the same host. Warm-up rounds (JIT, first LAN set-up, the Ceph secret) are not counted.
 *
 * <p>Prints medians and p90 of both, virtfleet's overhead as a percentage of the tools' time (of the medians, which
 * the goal is judged on, and paired: the median of each round's difference), the tools' parts and virtfleet's time
 * per step (as the progress stream reports them), then {@code RESULT} and {@code RATIO} lines.
 * Needs root and the packages of deploy/dev/install-deps.sh.
 */
public final class VmCreateBench {
    private static final double GOAL_OVERHEAD_PERCENT = 30;
    private static final String UNDERLAY = "10.249.1";
    private static final String HOST = "hvb";
    private static final long DISK = GIB;
    private static final String USAGE = String.join("\n",
            "VmCreateBench [--rounds 10] [--warmup 3] [--tiers raw,sata] [--memory-mib 128] [--work-dir DIR]",
            "  --tiers: any of raw, sata, ssd (sata or ssd start a single-node Ceph, ~12 s)");
    private static final List<String> STEPS = List.of("placed", "disk", "network", "defined", "started", "done");

    private VmCreateBench() {}

    /** One timed virtfleet create: total, and when each progress event arrived (ms since the request). */
    private record Created(double totalMs, Map<String, Double> stepAtMs) {}

    /** One timed creation with the tools: each program's wall time. */
    private record ByHand(double qemuImgMs, double defineMs, double startMs) {
        double totalMs() {
            return qemuImgMs + defineMs + startMs;
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("rounds", "warmup", "tiers", "memory-mib", "work-dir"), USAGE);
        int rounds = a.integer("rounds", 10);
        int warmup = a.integer("warmup", 3);
        long memory = a.integer("memory-mib", 128) * MIB;
        List<StorageTier> tiers = Arrays.stream(a.string("tiers", "raw,sata").split(","))
                .map(t -> StorageTiers.parse("--tiers", t.strip())).toList();
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-create-bench");
        Logging.configure(false);
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING); // one line per round is enough

        try (NetworkNamespaces namespaces = new NetworkNamespaces()) {
            Underlay underlay = new Underlay(namespaces, UNDERLAY);
            String ns = namespaces.create(HOST);
            underlay.plug(ns, "ul0", UNDERLAY + ".11/24");
            List<AutoCloseable> closers = new ArrayList<>();
            try {
                boolean needsCeph = tiers.stream().anyMatch(t -> t != StorageTier.STORAGE_TIER_RAW);
                CephCluster ceph = needsCeph ? CephCluster.start(work.resolve("ceph"), underlay.rootAddress()) : null;
                if (ceph != null) {
                    closers.add(ceph);
                }
                LibvirtdNode node = LibvirtdNode.start(work.resolve("nodes").resolve(HOST), HOST,
                        LibvirtdNode.Options.defaults().inNetworkNamespace(ns));
                closers.add(0, node);
                Connect probe = new Connect(node.uri(), false);
                probe.getVersion(); // QEMU's capabilities, probed once (seconds under TCG), before anything is timed
                probe.close();

                List<Endpoint> monitors = ceph == null ? List.of() : List.of(Endpoint.parse("ceph-monitors", ceph.monitor()));
                EmbeddedFleet fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of())
                        .heartbeat(Duration.ofSeconds(1)).reconcileInterval(Duration.ofHours(1))
                        .provisioning(p -> p.withDomain(p.domain().withCephMonitors(monitors))).build().start();
                closers.add(0, fleet);
                Path state = work.resolve("agents").resolve(HOST);
                CephSettings cephSettings = ceph == null ? null : new CephSettings(ceph.conf(), CephCluster.CLIENT,
                        ceph.clientKeyring(), CephCluster.SSD_POOL, CephCluster.SATA_POOL, Duration.ofSeconds(20));
                closers.add(0, NamespacedAgent.start(fleet, HOST, state, node.uri(), ns, "ul0", cephSettings));
                Clients admin = Clients.as(fleet.adminCredentials());
                closers.add(0, admin);
                FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
                awaitReady(operator);

                DomainXml byHandXml = new DomainXml(DomainSettings.defaults().withDomainType(DomainSettings.QEMU)
                        .withImagesDirectory(state.resolve("images")).withCephMonitors(monitors));
                Tools tools = new Tools(node.uri(), state.resolve("images"), cephSettings, work.resolve("xml"));
                System.out.printf(Locale.ROOT, "== machine: %d vCPU, load average %s; %d rounds per tier after %d warm-up,"
                                + " VMs of %d MiB, 1 vCPU, %s disk, LAN 10%n", Runtime.getRuntime().availableProcessors(),
                        String.join(" ", Arrays.copyOf(Files.readString(Path.of("/proc/loadavg")).split(" "), 3)), rounds, warmup,
                        memory / MIB, "1 GiB");
                for (StorageTier tier : tiers) {
                    measure(tier, rounds, warmup, memory, operator, byHandXml, tools);
                }
            } finally {
                for (AutoCloseable c : closers) {
                    c.close();
                }
            }
        }
        if (a.string("work-dir", null) == null) {
            Bench.deleteTree(work);
        }
        System.exit(0); // gRPC and libvirt leave non-daemon threads behind
    }

    private static void measure(StorageTier tier, int rounds, int warmup, long memory, FleetGrpc.FleetBlockingStub operator,
                                DomainXml byHandXml, Tools tools) {
        String tierName = StorageTiers.name(tier);
        List<Created> created = new ArrayList<>();
        List<ByHand> byHand = new ArrayList<>();
        for (int i = 0; i < warmup + rounds; i++) {
            VmSpec fleetVm = spec("vf-" + tierName + "-" + i, tier, memory);
            VmSpec handVm = spec("hand-" + tierName + "-" + i, tier, memory);
            String xml = byHandXml.render(handVm);
            Created c;
            ByHand h;
            if (i % 2 == 0) {
                c = create(operator, fleetVm);
                h = tools.create(handVm, xml);
            } else {
                h = tools.create(handVm, xml);
                c = create(operator, fleetVm);
            }
            delete(operator, fleetVm.getName());
            tools.remove(handVm);
            boolean counted = i >= warmup;
            String label = counted ? "round " + (i - warmup + 1) : "warm-up " + (i + 1);
            System.out.printf(Locale.ROOT, "%s %-10s virtfleet %7.1f ms, tools %7.1f ms (qemu-img %.1f + define %.1f"
                            + " + start %.1f)%n", tierName, label + ":", c.totalMs(), h.totalMs(), h.qemuImgMs(), h.defineMs(),
                    h.startMs());
            if (counted) {
                created.add(c);
                byHand.add(h);
            }
        }
        report(tierName, created, byHand);
    }

    private static void report(String tier, List<Created> created, List<ByHand> byHand) {
        double[] fleet = created.stream().mapToDouble(Created::totalMs).sorted().toArray();
        double[] hand = byHand.stream().mapToDouble(ByHand::totalMs).sorted().toArray();
        double fleetMedian = percentile(fleet, 50);
        double fleetP90 = percentile(fleet, 90);
        double handMedian = percentile(hand, 50);
        double handP90 = percentile(hand, 90);
        double overhead = (fleetMedian / handMedian - 1) * 100;
        double overheadP90 = (fleetP90 / handP90 - 1) * 100;
        // Paired: both creations of a round ran back to back, so their difference carries less of the machine's noise.
        double[] extraMs = new double[created.size()];
        double[] extraPercent = new double[created.size()];
        for (int i = 0; i < extraMs.length; i++) {
            extraMs[i] = created.get(i).totalMs() - byHand.get(i).totalMs();
            extraPercent[i] = (created.get(i).totalMs() / byHand.get(i).totalMs() - 1) * 100;
        }
        Arrays.sort(extraMs);
        Arrays.sort(extraPercent);
        double pairedMs = percentile(extraMs, 50);
        double pairedPercent = percentile(extraPercent, 50);
        double qemuImg = percentile(byHand.stream().mapToDouble(ByHand::qemuImgMs).sorted().toArray(), 50);
        double define = percentile(byHand.stream().mapToDouble(ByHand::defineMs).sorted().toArray(), 50);
        double start = percentile(byHand.stream().mapToDouble(ByHand::startMs).sorted().toArray(), 50);

        System.out.println();
        System.out.printf(Locale.ROOT, "%-5s %6s %12s %12s %12s %12s %10s %10s  goal (<= %.0f %%)%n", "tier", "rounds",
                "virtfleet p50", "virtfleet p90", "tools p50", "tools p90", "overhead", "(at p90)", GOAL_OVERHEAD_PERCENT);
        System.out.printf(Locale.ROOT, "%-5s %6d %9.1f ms %9.1f ms %9.1f ms %9.1f ms %9.1f%% %9.1f%%  %s%n", tier, fleet.length,
                fleetMedian, fleetP90, handMedian, handP90, overhead, overheadP90,
                overhead <= GOAL_OVERHEAD_PERCENT ? "MET" : "NOT MET");
        System.out.printf(Locale.ROOT, "      paired (same round): virtfleet takes a median %.1f ms (%.1f %%) longer than the tools%n",
                pairedMs, pairedPercent);
        System.out.printf(Locale.ROOT, "      tools, median per program: qemu-img create %.1f ms, virsh define %.1f ms,"
                + " virsh start %.1f ms%n", qemuImg, define, start);
        StringBuilder steps = new StringBuilder();
        StringBuilder stepsResult = new StringBuilder();
        String previous = null;
        for (String step : STEPS) {
            String from = previous;
            double[] spans = created.stream().mapToDouble(c -> c.stepAtMs().getOrDefault(step, Double.NaN)
                    - (from == null ? 0 : c.stepAtMs().getOrDefault(from, Double.NaN))).sorted().toArray();
            double median = percentile(spans, 50);
            steps.append(String.format(Locale.ROOT, "%s%s %.1f ms", steps.length() == 0 ? "" : ", ", step, median));
            stepsResult.append(String.format(Locale.ROOT, " step_%s_ms=%.1f", step, median));
            previous = step;
        }
        System.out.println("      virtfleet, median time to each progress event from the one before: " + steps);
        System.out.printf(Locale.ROOT, "RESULT vm-create tier=%s rounds=%d virtfleet_p50_ms=%.1f virtfleet_p90_ms=%.1f"
                        + " tools_p50_ms=%.1f tools_p90_ms=%.1f qemu_img_p50_ms=%.1f define_p50_ms=%.1f start_p50_ms=%.1f%s%n",
                tier, fleet.length, fleetMedian, fleetP90, handMedian, handP90, qemuImg, define, start, stepsResult);
        System.out.printf(Locale.ROOT, "RATIO vm-create tier=%s virtfleet_over_tools_p50=%.3f virtfleet_over_tools_p90=%.3f"
                        + " overhead_pct_p50=%.1f overhead_pct_p90=%.1f paired_extra_ms_p50=%.1f paired_overhead_pct_p50=%.1f"
                        + " goal_pct=%.0f %s%n", tier, fleetMedian / handMedian, fleetP90 / handP90, overhead, overheadP90, pairedMs,
                pairedPercent, GOAL_OVERHEAD_PERCENT,
                overhead <= GOAL_OVERHEAD_PERCENT ? "MET" : "NOT MET");
        System.out.println();
    }

    private static VmSpec spec(String name, StorageTier tier, long memory) {
        return VmSpec.newBuilder().setName(name).setStorage(tier).setDiskBytes(DISK).setMemoryBytes(memory).setVcpus(1)
                .setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base").build();
    }

    /** {@code vm create} as the CLI does it: wall time from the request to the end of the progress stream. */
    private static Created create(FleetGrpc.FleetBlockingStub operator, VmSpec spec) {
        Map<String, Double> at = new LinkedHashMap<>();
        long t0 = System.nanoTime();
        Iterator<VmProgress> it = operator.withDeadlineAfter(2, TimeUnit.MINUTES)
                .createVm(CreateVmRequest.newBuilder().setSpec(spec).build());
        while (it.hasNext()) {
            at.put(it.next().getStep(), (System.nanoTime() - t0) / 1e6);
        }
        double total = (System.nanoTime() - t0) / 1e6;
        if (!at.containsKey("done")) {
            throw new IllegalStateException("create of " + spec.getName() + " ended without 'done': " + at.keySet());
        }
        return new Created(total, at);
    }

    private static void delete(FleetGrpc.FleetBlockingStub operator, String name) {
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).deleteVm(DeleteVmRequest.newBuilder().setName(name).setDeleteDisk(true)
                .build()).forEachRemaining(p -> { });
    }

    private static void awaitReady(FleetGrpc.FleetBlockingStub operator) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .noneMatch(h -> h.getState() == HostState.HOST_STATE_READY && !h.getReport().getVxlanAddress().isEmpty())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the agent did not become ready with its underlay address within 60 s");
            }
            Thread.sleep(50);
        }
    }

    /** The runbook by hand: the same programs an operator would run on the hypervisor, from argument lists. */
    private record Tools(String uri, Path images, CephSettings ceph, Path xmlDir) {
        ByHand create(VmSpec vm, String xml) {
            try {
                Files.createDirectories(xmlDir);
                Path file = Files.writeString(xmlDir.resolve(vm.getName() + ".xml"), xml);
                double qemuImg = timed("qemu-img", "create", "-q", "-f", vm.getStorage() == StorageTier.STORAGE_TIER_RAW
                        ? "raw" : "rbd", disk(vm), Long.toString(vm.getDiskBytes()));
                double define = timed("virsh", "--quiet", "-c", uri, "define", file.toString());
                double start = timed("virsh", "--quiet", "-c", uri, "start", vm.getName());
                return new ByHand(qemuImg, define, start);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        void remove(VmSpec vm) {
            Command.of("virsh", "--quiet", "-c", uri, "destroy", vm.getName()).run();
            Command.of("virsh", "--quiet", "-c", uri, "undefine", vm.getName()).runChecked();
            if (vm.getStorage() == StorageTier.STORAGE_TIER_RAW) {
                Command.of("rm", "--", images.resolve(vm.getName() + ".img").toString()).runChecked();
            } else {
                Command.of("rbd", "--id", ceph.client(), "--conf", ceph.conf().toString(), "--keyring", ceph.keyring().toString(),
                        "rm", "--no-progress", ceph.pool(vm.getStorage()) + "/" + vm.getName()).runChecked();
            }
        }

        /** The disk as qemu-img names it: the raw file, or the RBD image with the cephx user's conf and keyring. */
        private String disk(VmSpec vm) {
            if (vm.getStorage() == StorageTier.STORAGE_TIER_RAW) {
                return images.resolve(vm.getName() + ".img").toString();
            }
            return "rbd:" + ceph.pool(vm.getStorage()) + "/" + vm.getName() + ":id=" + ceph.client() + ":conf=" + ceph.conf()
                    + ":keyring=" + ceph.keyring();
        }

        private static double timed(String... argv) {
            long t0 = System.nanoTime();
            Command.of(argv).timeout(Duration.ofMinutes(1)).runChecked();
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    /** Nearest-rank percentile of sorted values. */
    private static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
