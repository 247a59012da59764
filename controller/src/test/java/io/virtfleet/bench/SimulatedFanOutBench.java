package io.virtfleet.bench;

import static io.virtfleet.bench.Bench.percentile;
import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;

import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostSync;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.SyncHostsRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The scale question for a fan-out: how long until 200 hosts have defined a changed definition.
 *
 * <p>An embedded fleet in this JVM: the controller (mutual TLS, its git server) and 201 real agents, each on a libvirt
 * test-driver hypervisor of its own ({@code test:///}): {@code hv0} is the home of one replicated VM, {@code hv1..hv200}
 * each hold its replica. Each agent pulls the definitions over HTTPS with its own certificate and defines through
 * its own libvirt connection, as on a real host; only the hypervisor is simulated (a define costs microseconds, not
 * the milliseconds of a real libvirtd), so the numbers are the controller's, the git server's and the agents'
 * share of the work. The VM's record is committed straight to the definitions repository (a replicated VM's disk
 * needs a Ceph, which test-driver hosts have not; its home host's build is not what is measured).
 *
 * <p>Each round commits a changed definition (a new {@code <description>}) and calls {@code SyncHosts} over the
 * Fleet API as {@code virtfleet sync} does, timing from the request until all 200 replica hosts reported the new
 * definition defined. Prints p50/p99 of that over the rounds, and the distribution of each host's answer time over
 * all rounds, then {@code RESULT} lines. No goal is set by the issue for this one: it is measured.
 */
public final class SimulatedFanOutBench {
    private static final String HOME = "hv0";
    private static final String VM = "web";
    private static final String USAGE = "SimulatedFanOutBench [--hosts 200] [--rounds 20] [--warmup 2] [--work-dir DIR]";

    private SimulatedFanOutBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("hosts", "rounds", "warmup", "work-dir"), USAGE);
        int hosts = a.integer("hosts", 200);
        int rounds = a.integer("rounds", 20);
        int warmup = a.integer("warmup", 2);
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-simulated-fanout-bench");
        Logging.configure(false);
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);

        List<TestDriverNode> nodes = new ArrayList<>();
        for (int i = 0; i <= hosts; i++) {
            nodes.add(new TestDriverNode("hv" + i, 32, 128 * 1024));
        }
        long t0 = System.nanoTime();
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(nodes).heartbeat(Duration.ofSeconds(5))
                .grace(Duration.ofSeconds(30)).reconcileInterval(Duration.ofHours(1))
                .provisioning(p -> p.withSyncDeadline(Duration.ofSeconds(60))).build().start();
             Clients admin = Clients.as(fleet.adminCredentials())) {
            FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
            awaitReady(operator, hosts + 1);
            System.out.printf(Locale.ROOT, "== machine: %d vCPU, load average %s; %d replica hosts + the home host ready in %d ms;"
                            + " %d rounds after %d warm-up%n", Runtime.getRuntime().availableProcessors(),
                    String.join(" ", Arrays.copyOf(Files.readString(Path.of("/proc/loadavg")).split(" "), 3)), hosts,
                    (System.nanoTime() - t0) / 1_000_000, rounds, warmup);
            VmStore store = fleet.controller().vmStore();
            record(store);
            awaitInStep(operator);
            List<Double> allDefined = new ArrayList<>();
            List<Double> eachHost = new ArrayList<>();
            for (int i = 0; i < warmup + rounds; i++) {
                String mark = "simulated fan-out bench, round " + (i + 1);
                String head = Bench.redescribe(store, VM, mark);
                List<Double> answers = new ArrayList<>();
                int[] caughtUp = {0};
                double all = fanOut(operator, head, hosts, answers, caughtUp);
                boolean counted = i >= warmup;
                double[] sorted = answers.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                System.out.printf(Locale.ROOT, "%-10s all %d defined in %7.1f ms (first answer %.1f ms, median %.1f ms; %d had"
                                + " caught up by themselves)%n", (counted ? "round " + (i - warmup + 1) : "warm-up " + (i + 1)) + ":",
                        hosts, all, sorted[0], percentile(sorted, 50), caughtUp[0]);
                if (counted) {
                    allDefined.add(all);
                    eachHost.addAll(answers);
                }
                awaitInStep(operator); // every round starts from a fleet at rest
            }
            report(hosts, allDefined, eachHost);
        }
        if (a.string("work-dir", null) == null) {
            Bench.deleteTree(work);
        }
        System.exit(0); // gRPC and libvirt leave non-daemon threads behind
    }

    /** The replicated VM's record and definition, homed on hv0, as a create would have committed them. */
    private static void record(VmStore store) throws IOException {
        VmSpec spec = VmSpec.newBuilder().setName(VM).setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(128 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(true).build();
        DomainXml xml = new DomainXml(DomainSettings.defaults().withDomainType(DomainSettings.QEMU)
                .withCephMonitors(List.of(Endpoint.parse("ceph-monitors", "127.0.0.1:6789"))));
        Vm vm = Vm.newBuilder().setSpec(spec).setHomeHost(HOME).setRunningWanted(false).setPhase(VmPhase.VM_PHASE_READY)
                .setDisk(xml.disk(spec)).setNetwork(xml.network(spec)).build();
        store.save(vm, xml.render(spec), "create " + VM + " on " + HOME + "\n\nrecorded by the benchmark", "bench");
    }


    /**
     * {@code virtfleet sync}; returns when the last replica host answered, adds each host's answer time, and counts in
     * {@code caughtUp} the hosts that had synced by themselves before the call reached them (a heartbeat names the new
     * commit to every agent, so under load some get there first: their definition is in place when they answer).
     */
    private static double fanOut(FleetGrpc.FleetBlockingStub operator, String head, int hosts, List<Double> answers,
                                 int[] caughtUp) {
        long t0 = System.nanoTime();
        Iterator<VmProgress> it = operator.withDeadlineAfter(3, TimeUnit.MINUTES).syncHosts(SyncHostsRequest.getDefaultInstance());
        TreeMap<String, String> failed = new TreeMap<>();
        double all = Double.NaN;
        int defined = 0;
        while (it.hasNext()) {
            VmProgress p = it.next();
            double ms = (System.nanoTime() - t0) / 1e6;
            if (!p.getStep().equals(FanOut.STEP) || p.getHost().equals(HOME)) {
                continue;
            }
            if (p.getDetail().startsWith("in step at " + head.substring(0, 12))) {
                caughtUp[0]++; // its heartbeat named the commit first and it synced by itself: defined all the same
            } else if (!p.getDetail().matches("(redefined|defined) " + VM + " at " + head.substring(0, 12))) {
                failed.put(p.getHost(), p.getDetail());
                continue;
            }
            answers.add(ms);
            if (++defined == hosts) {
                all = ms;
            }
        }
        if (!failed.isEmpty()) {
            throw new IllegalStateException(failed.size() + " hosts did not define " + VM + " at " + head + ", e.g. "
                    + failed.firstEntry());
        }
        return all;
    }

    private static void report(int hosts, List<Double> allDefined, List<Double> eachHost) {
        double[] all = allDefined.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double[] each = eachHost.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        System.out.println();
        System.out.printf(Locale.ROOT, "time until all %d hosts defined (%d rounds): p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
                hosts, all.length, percentile(all, 50), percentile(all, 99), all[all.length - 1]);
        System.out.printf(Locale.ROOT, "each host's answer (%d answers): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms%n",
                each.length, percentile(each, 50), percentile(each, 90), percentile(each, 99), each[each.length - 1]);
        System.out.printf(Locale.ROOT, "RESULT fan-out-simulated hosts=%d rounds=%d all_defined_p50_ms=%.1f all_defined_p99_ms=%.1f"
                        + " host_answer_p50_ms=%.1f host_answer_p90_ms=%.1f host_answer_p99_ms=%.1f%n", hosts, all.length,
                percentile(all, 50), percentile(all, 99), percentile(each, 50), percentile(each, 90), percentile(each, 99));
    }

    /** Until every host reports the repository's head synced (their own catch-ups included). */
    private static void awaitInStep(FleetGrpc.FleetBlockingStub operator) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (operator.getDrift(GetDriftRequest.getDefaultInstance()).getHostsList().stream().anyMatch(HostSync::getBehind)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("hosts still behind the repository after 2 minutes");
            }
            Thread.sleep(200);
        }
    }

    private static void awaitReady(FleetGrpc.FleetBlockingStub operator, int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .filter(h -> h.getState() == HostState.HOST_STATE_READY).count() < count) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("not all " + count + " agents ready within 5 minutes");
            }
            Thread.sleep(100);
        }
    }

}
