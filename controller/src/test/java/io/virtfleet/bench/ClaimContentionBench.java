package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;

import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.scheduler.Claim;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.ListHostsRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Claims under contention (issue 4): 200 {@code vm create} at once on 5 hosts, through the operator API over
 * mutual TLS, each a whole create (placement and claim, git commit, raw disk by qemu-img, LAN, definition and
 * start on the host's libvirt test driver). The fleet holds fewer VMs than are asked for, so placement must
 * refuse the rest and never overcommit a host: after the storm every host's promised memory is checked against
 * its limit, and against the VMs its libvirt actually runs. Baseline in the same run: the same creates one at a
 * time (throughput ratio concurrent / sequential). Needs root (network namespaces for the LAN).
 */
public final class ClaimContentionBench {
    private static final String USAGE = String.join("\n",
            "ClaimContentionBench [--hosts 5] [--creates 200] [--memory-gib 1] [--sequential 40]",
            "  creates VMs of --memory-gib each, all at once, on --hosts embedded hosts; then --sequential of them",
            "  one at a time on a fresh fleet as the baseline");

    private ClaimContentionBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("hosts", "creates", "memory-gib", "sequential"), USAGE);
        int hosts = a.integer("hosts", 5);
        int creates = a.integer("creates", 200);
        long memory = a.integer("memory-gib", 1) * GIB;
        int sequential = a.integer("sequential", 40);
        if (!SimulatedNetwork.available()) {
            System.err.println("ClaimContentionBench needs root (network namespaces for the VMs' LAN)");
            System.exit(2);
        }
        System.out.printf(Locale.ROOT, "claims under contention: %d creates at once on %d hosts, %d GiB each; baseline"
                + " %d creates one at a time; %d vCPU%n", creates, hosts, memory / GIB, sequential,
                Runtime.getRuntime().availableProcessors());
        Result concurrent = run(hosts, creates, memory, creates);
        Result serial = run(hosts, sequential, memory, 1);
        report("concurrent", concurrent);
        report("sequential", serial);
        System.out.printf(Locale.ROOT, "RATIO claim-contention requests_per_s_concurrent_over_sequential=%.2f"
                + " created_per_s_concurrent_over_sequential=%.2f%n", concurrent.perSecond() / serial.perSecond(),
                concurrent.createdPerSecond() / serial.createdPerSecond());
        System.out.printf(Locale.ROOT, "goal zero overcommit: %s%n", concurrent.overcommitted() == 0
                && serial.overcommitted() == 0 ? "MET" : "NOT MET");
        System.exit(0);
    }

    record Result(int asked, int created, int refused, Map<String, Integer> errors, long nanos,
                  Map<String, Integer> perHost, int overcommitted, int mismatched) {
        /** Decisions carried through per second: VMs created plus creates refused because nothing fits. */
        double perSecond() {
            return (created + refused) / (nanos / 1e9);
        }

        double createdPerSecond() {
            return created / (nanos / 1e9);
        }
    }

    private static Result run(int hosts, int creates, long memory, int parallelism) throws Exception {
        Path work = Files.createTempDirectory("vf-contention");
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work).nodes(EmbeddedFleet.defaultNodes(hosts))
                .heartbeat(Duration.ofMillis(500)).simulatedNetwork(true).reconcileInterval(Duration.ofHours(1)).build()
                .start(); Clients admin = Clients.as(fleet.adminCredentials())) {
            FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
            CreateBurst.awaitReady(operator, hosts);
            CreateBurst.Outcome burst = CreateBurst.run(operator, creates, memory, parallelism);
            // Every promise within its host's limit, and what libvirt runs agrees with what was promised.
            Map<String, Integer> perHost = new TreeMap<>();
            for (Claim c : fleet.controller().scheduler().claims()) {
                perHost.merge(c.host(), 1, Integer::sum);
            }
            int overcommitted = 0;
            int mismatched = 0;
            Thread.sleep(1500); // a heartbeat or two: each host reports its domains
            for (Host h : operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList()) {
                long limit = (long) (h.getReport().getResources().getMemoryTotalBytes() * 0.9);
                long promised = fleet.controller().scheduler().allocated(h.getName())[0];
                if (promised > limit) {
                    overcommitted++;
                    System.out.printf("  OVERCOMMIT %s: %d promised > %d%n", h.getName(), promised, limit);
                }
                long ours = h.getReport().getDomainsList().stream().filter(d -> d.getName().matches("vm\\d{3}")).count();
                if (ours != perHost.getOrDefault(h.getName(), 0)) {
                    mismatched++;
                    System.out.printf("  %s runs %d of the VMs, claims say %d%n", h.getName(), ours, perHost.get(h.getName()));
                }
            }
            return new Result(creates, burst.created(), burst.refused(), burst.errors(), burst.nanos(), perHost, overcommitted,
                    mismatched);
        } finally {
            Bench.deleteTree(work);
        }
    }


    private static void report(String mode, Result r) {
        System.out.printf(Locale.ROOT, "%-10s asked %d: created %d, refused (no host fits) %d, errors %d, in %.2f s:"
                        + " %.1f requests/s, %.1f VMs created/s; per host %s; overcommitted hosts %d, hosts whose libvirt"
                        + " disagrees %d%n",
                mode, r.asked(), r.created(), r.refused(), r.errors().values().stream().mapToInt(Integer::intValue).sum(),
                r.nanos() / 1e9, r.perSecond(), r.createdPerSecond(), r.perHost(), r.overcommitted(), r.mismatched());
        r.errors().forEach((e, n) -> System.out.printf("  error x%d: %s%n", n, e));
        System.out.printf(Locale.ROOT, "RESULT claim-contention mode=%s asked=%d created=%d refused=%d errors=%d"
                        + " seconds=%.3f requests_per_s=%.2f created_per_s=%.2f overcommitted_hosts=%d"
                        + " libvirt_mismatch_hosts=%d%n", mode, r.asked(),
                r.created(), r.refused(), r.errors().values().stream().mapToInt(Integer::intValue).sum(), r.nanos() / 1e9,
                r.perSecond(), r.createdPerSecond(), r.overcommitted(), r.mismatched());
    }
}
