package io.virtfleet.bench;

import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.RecoverHostRequest;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The failover question: how long the controller takes to restart 20 VMs of a lost host elsewhere with its
 * default parallelism against one at a time ({@code failover-parallel 1}), in the same run (BENCHMARKS.md §14).
 *
 * <p>An embedded fleet per measurement: the controller in this JVM (mutual TLS, its git server), three agents on
 * libvirt test-driver hypervisors with their networks in namespaces, a real single-node Ceph for the VMs' ssd disks.
 * The VMs are created on hv1 (hv2 and hv3 drained meanwhile); hv1's agent is stopped, the controller waits until it
 * marks hv1 unreachable, the verdict is recorded (fence view), and {@code RecoverHost} is timed from the call to the
 * end of its stream (every VM recorded on its new home, defined there and started). The hypervisor is simulated (a
 * define or a start costs microseconds), so the figure is the controller's share: placement, claims, one commit per
 * VM, the network step, the agents' calls, the new home's sync. Which parallelism goes first rotates per round.
 */
public final class FailoverBench {
    private static final String USAGE = "usage: FailoverBench [--vms N] [--rounds N] [--warmups N] [--parallel N[,N...]]\n"
            + "  (defaults 20, 3, 1, 1,4; a warm-up round is measured and not counted; needs root and ceph-mon ceph-osd"
            + " ceph-common)";

    private FailoverBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("vms", "rounds", "warmups", "parallel"), USAGE);
        int warmups = a.integer("warmups", 1);
        int vms = a.integer("vms", 20);
        int rounds = a.integer("rounds", 3);
        List<Integer> parallels = Arrays.stream(a.string("parallel", "1,4").split(",")).map(Integer::parseInt).toList();
        Logging.configure(false);
        Path work = Files.createTempDirectory("failover-bench");
        Map<Integer, List<Long>> times = new LinkedHashMap<>();
        parallels.forEach(p -> times.put(p, new ArrayList<>()));
        try (CephCluster ceph = CephCluster.start(work.resolve("ceph"))) {
            int run = 0;
            for (int round = -warmups; round < rounds; round++) {
                for (int i = 0; i < parallels.size(); i++) {
                    int parallel = parallels.get(Math.floorMod(i + round, parallels.size()));
                    long ms = once(work.resolve("run-" + run++), ceph, vms, parallel);
                    if (round >= 0) {
                        times.get(parallel).add(ms);
                    }
                    System.out.printf(Locale.ROOT, "%s: %d VMs recovered with failover-parallel %d in %d ms%n",
                            round < 0 ? "warm-up" : "round " + (round + 1), vms, parallel, ms);
                }
            }
        } finally {
            Bench.deleteTree(work);
        }
        long base = median(times.get(parallels.get(0)));
        for (Map.Entry<Integer, List<Long>> e : times.entrySet()) {
            long m = median(e.getValue());
            System.out.printf(Locale.ROOT, "RESULT failover vms=%d parallel=%d median_ms=%d runs=%s ratio_to_parallel_%d=%.2f%n",
                    vms, e.getKey(), m, e.getValue(), parallels.get(0), (double) m / base);
        }
    }

    private static long median(List<Long> values) {
        long[] sorted = values.stream().mapToLong(Long::longValue).sorted().toArray();
        return Bench.percentile(sorted, 50);
    }

    /** One fleet: {@code vms} VMs on hv1, hv1 lost, its VMs recovered; returns the recovery's time in ms. */
    private static long once(Path dir, CephCluster ceph, int vms, int parallel) throws Exception {
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(dir).nodes(EmbeddedFleet.defaultNodes(3)).simulatedNetwork(true)
                .ceph(ceph).heartbeat(Duration.ofMillis(200)).grace(Duration.ofSeconds(1))
                .reconcileInterval(Duration.ofSeconds(2)).failoverParallel(parallel).build().start();
             Clients admin = Clients.as(fleet.adminCredentials())) {
            fleet.awaitRegistered(Duration.ofSeconds(30));
            FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
            draining(operator, "hv2", true);
            draining(operator, "hv3", true);
            for (int i = 1; i <= vms; i++) {
                VmSpec spec = VmSpec.newBuilder().setName(String.format(Locale.ROOT, "vm%02d", i))
                        .setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(Bytes.GIB).setMemoryBytes(256 * Bytes.MIB)
                        .setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                        .setReplicated(true).build();
                operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec)
                        .build()).forEachRemaining(p -> { });
            }
            draining(operator, "hv2", false);
            draining(operator, "hv3", false);
            fleet.stopAgent("hv1");
            Await.until("hv1 unreachable", Duration.ofSeconds(30), () -> operator.withDeadlineAfter(5, TimeUnit.SECONDS)
                    .getHost(GetHostRequest.newBuilder().setName("hv1").build()).getState() == HostState.HOST_STATE_UNREACHABLE);
            ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).record(new Fence("hv1", Fence.Kind.CONFIRMED_DOWN, List.of(),
                    Instant.now(), null, "bench"));

            List<VmProgress> steps = new ArrayList<>();
            long start = System.nanoTime();
            operator.withDeadlineAfter(10, TimeUnit.MINUTES).recoverHost(RecoverHostRequest.newBuilder().setName("hv1")
                    .build()).forEachRemaining(steps::add);
            long ms = (System.nanoTime() - start) / 1_000_000;
            VmProgress last = steps.get(steps.size() - 1);
            if (last.getVmsLeft() != 0) {
                throw new AssertionError("not every VM recovered: " + last.getDetail());
            }
            List<Vm> all = operator.withDeadlineAfter(10, TimeUnit.SECONDS).listVms(ListVmsRequest.getDefaultInstance())
                    .getVmsList();
            for (Vm vm : all) {
                String home = vm.getHomeHost();
                if (home.equals("hv1") || fleet.controller().registry().get(home).orElseThrow().report().getDomainsList()
                        .stream().noneMatch(d -> d.getName().equals(vm.getSpec().getName()) && Domains.active(d.getState()))) {
                    Await.until(vm.getSpec().getName() + " runs on " + home, Duration.ofSeconds(30), () -> !home.equals("hv1")
                            && fleet.controller().registry().get(home).orElseThrow().report().getDomainsList().stream()
                            .anyMatch(d -> d.getName().equals(vm.getSpec().getName()) && Domains.active(d.getState())));
                }
            }
            return ms;
        }
    }

    private static void draining(FleetGrpc.FleetBlockingStub operator, String host, boolean on) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(SetHostDrainingRequest.newBuilder().setName(host)
                .setDraining(on).build());
    }
}
