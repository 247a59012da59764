package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code vm create} of VMs {@code vm000}, {@code vm001}, ... (raw disk of 1 GiB, 1 vCPU, LAN 10, profile base)
 * through the operator API, {@code parallelism} at a time, all released together: what the contention benchmarks
 * throw at a fleet.
 */
final class CreateBurst {
    /**
     * @param refused creates refused because no host fits (RESOURCE_EXHAUSTED)
     * @param errors  other failures, by status and description
     */
    record Outcome(int created, int refused, Map<String, Integer> errors, long nanos) {
        int failed() {
            return errors.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    private CreateBurst() {}

    static Outcome run(FleetGrpc.FleetBlockingStub operator, int creates, long memoryBytes, int parallelism)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(parallelism);
        CountDownLatch go = new CountDownLatch(1);
        LongAdder created = new LongAdder();
        LongAdder refused = new LongAdder();
        Map<String, Integer> errors = new ConcurrentHashMap<>();
        List<Future<?>> done = new ArrayList<>();
        try {
            for (int i = 0; i < creates; i++) {
                VmSpec spec = VmSpec.newBuilder().setName(String.format(Locale.ROOT, "vm%03d", i))
                        .setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(GIB).setMemoryBytes(memoryBytes).setVcpus(1)
                        .setProfile("base").setNetwork(NetworkSpec.newBuilder().setLan(10)).build();
                done.add(pool.submit(() -> {
                    go.await();
                    try {
                        operator.withDeadlineAfter(5, TimeUnit.MINUTES)
                                .createVm(CreateVmRequest.newBuilder().setSpec(spec).build()).forEachRemaining(p -> { });
                        created.increment();
                    } catch (StatusRuntimeException e) {
                        if (e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                            refused.increment();
                        } else {
                            errors.merge(e.getStatus().getCode() + ": " + e.getStatus().getDescription(), 1, Integer::sum);
                        }
                    }
                    return null;
                }));
            }
            long t0 = System.nanoTime();
            go.countDown();
            for (Future<?> f : done) {
                f.get();
            }
            return new Outcome(created.intValue(), refused.intValue(), new TreeMap<>(errors), System.nanoTime() - t0);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Waits (at most 60 s) until {@code hosts} hosts are ready and report their VXLAN underlay. */
    static void awaitReady(FleetGrpc.FleetBlockingStub operator, int hosts) throws InterruptedException {
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(60).toNanos();
        while (operator.listHosts(io.virtfleet.proto.v1.ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .filter(h -> h.getState() == io.virtfleet.proto.v1.HostState.HOST_STATE_READY
                        && !h.getReport().getVxlanAddress().isEmpty())
                .count() < hosts) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("hosts not ready within 60 s");
            }
            Thread.sleep(100);
        }
    }
}
