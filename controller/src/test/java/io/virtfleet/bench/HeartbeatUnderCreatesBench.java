package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;

import io.grpc.stub.StreamObserver;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Heartbeats while VMs are created: {@code --agents} simulated agents (enrolled, mutual TLS, one connection each)
 * heartbeat every {@code --interval-ms} to a controller that also serves 5 embedded hosts on libvirt's test driver;
 * their round trips are measured first with nothing else going on (the baseline), then while {@code --creates}
 * {@code vm create} run at once (placement and claim with its journal fsync, git commit, raw disk, LAN,
 * definition, start). The simulated hosts are drained, so every VM goes to an embedded host. Prints the
 * heartbeat round trip's p50/p99/max in both phases and the ratio of the p99s. Needs root (the VMs' LAN).
 */
public final class HeartbeatUnderCreatesBench {
    private static final String USAGE = String.join("\n",
            "HeartbeatUnderCreatesBench [--agents 50] [--interval-ms 100] [--creates 200] [--hosts 5] [--baseline-s 20]",
            "  heartbeats of --agents simulated agents every --interval-ms: --baseline-s alone, then during --creates",
            "  vm create at once on --hosts embedded hosts");

    private HeartbeatUnderCreatesBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("agents", "interval-ms", "creates", "hosts", "baseline-s"), USAGE);
        int agents = a.integer("agents", 50);
        int intervalMs = a.integer("interval-ms", 100);
        int creates = a.integer("creates", 200);
        int hosts = a.integer("hosts", 5);
        int baselineSeconds = a.integer("baseline-s", 20);
        if (!SimulatedNetwork.available()) {
            System.err.println("HeartbeatUnderCreatesBench needs root (network namespaces for the VMs' LAN)");
            System.exit(2);
        }
        System.out.printf(Locale.ROOT, "heartbeats under creates: %d simulated agents every %d ms; %d creates at once on"
                + " %d embedded hosts; baseline %d s without creates; %d vCPU%n", agents, intervalMs, creates, hosts,
                baselineSeconds, Runtime.getRuntime().availableProcessors());
        Path work = Files.createTempDirectory("vf-hb-creates");
        ScheduledExecutorService ticker = Executors.newScheduledThreadPool(2, r -> {
            Thread t = new Thread(r, "bench-heartbeats");
            t.setDaemon(true);
            return t;
        });
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work).nodes(EmbeddedFleet.defaultNodes(hosts))
                .heartbeat(Duration.ofMillis(500)).simulatedNetwork(true).reconcileInterval(Duration.ofHours(1)).build()
                .start(); Clients admin = Clients.as(fleet.adminCredentials())) {
            FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
            CreateBurst.awaitReady(operator, hosts);
            List<TlsCredentials> credentials = SimulatedFleet.enroll(fleet.controllerEndpoint(),
                    work.resolve("controller"), agents, work.resolve("simulated"), 8);
            try (SimulatedFleet sims = SimulatedFleet.perAgent(fleet.controllerEndpoint(), agents, credentials)) {
                List<SimulatedAgent> agentList = new ArrayList<>();
                for (int i = 0; i < agents; i++) {
                    SimulatedAgent sim = new SimulatedAgent(i, RegistryGrpc.newStub(sims.channel(i)));
                    register(sim);
                    agentList.add(sim);
                    operator.setHostDraining(SetHostDrainingRequest.newBuilder().setName(sim.hostName).setDraining(true)
                            .build());
                }
                LatencyHistogram rtt = new LatencyHistogram();
                LongAdder errors = new LongAdder();
                long period = TimeUnit.MILLISECONDS.toNanos(intervalMs);
                for (SimulatedAgent sim : agentList) {
                    ticker.scheduleAtFixedRate(() -> heartbeat(sim, rtt, errors), period * sim.index / agents, period,
                            TimeUnit.NANOSECONDS);
                }
                Thread.sleep(3000); // warm-up: connections, JIT
                rtt.reset();
                errors.reset();
                Thread.sleep(baselineSeconds * 1000L);
                LatencyHistogram.Snapshot baseline = rtt.snapshot();
                long baselineErrors = errors.sum();

                rtt.reset();
                errors.reset();
                long t0 = System.nanoTime();
                CreateBurst.Outcome outcome = CreateBurst.run(operator, creates, GIB, creates);
                double seconds = (System.nanoTime() - t0) / 1e9;
                LatencyHistogram.Snapshot during = rtt.snapshot();
                long duringErrors = errors.sum();
                ticker.shutdownNow();

                report("baseline", baseline, baselineErrors, baselineSeconds);
                report("creates", during, duringErrors, seconds);
                System.out.printf(Locale.ROOT, "  creates: %d created, %d refused (no host fits), %d errors, in %.1f s%n",
                        outcome.created(), outcome.refused(), outcome.failed(), seconds);
                System.out.printf(Locale.ROOT, "RATIO heartbeat-under-creates p99_creates_over_baseline=%.2f"
                        + " p50_creates_over_baseline=%.2f%n",
                        (double) during.percentileNanos(99) / baseline.percentileNanos(99),
                        (double) during.percentileNanos(50) / baseline.percentileNanos(50));
            }
        } finally {
            ticker.shutdownNow();
            Bench.deleteTree(work);
        }
        System.exit(0);
    }

    private static void register(SimulatedAgent sim) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        Throwable[] failure = new Throwable[1];
        sim.register(30_000, new StreamObserver<>() {
            @Override
            public void onNext(RegisterResponse value) {
                sim.session = value.getSessionId();
            }

            @Override
            public void onError(Throwable t) {
                failure[0] = t;
                done.countDown();
            }

            @Override
            public void onCompleted() {
                done.countDown();
            }
        });
        done.await();
        if (failure[0] != null) {
            throw new IllegalStateException("cannot register " + sim.hostName, failure[0]);
        }
    }

    private static void heartbeat(SimulatedAgent sim, LatencyHistogram rtt, LongAdder errors) {
        long start = System.nanoTime();
        sim.heartbeat(30_000, new StreamObserver<HeartbeatResponse>() {
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
            }
        });
    }


    private static void report(String phase, LatencyHistogram.Snapshot s, long errors, double seconds) {
        System.out.printf(Locale.ROOT, "%-9s %d heartbeats in %.1f s: round trip p50 %.2f ms, p99 %.2f ms, max %.2f ms;"
                        + " %d failed%n", phase, s.count(), seconds, s.percentileNanos(50) / 1e6,
                s.percentileNanos(99) / 1e6, s.maxNanos() / 1e6, errors);
        System.out.printf(Locale.ROOT, "RESULT heartbeat-under-creates phase=%s heartbeats=%d p50_ms=%.3f p99_ms=%.3f"
                        + " max_ms=%.3f failed=%d%n", phase, s.count(), s.percentileNanos(50) / 1e6,
                s.percentileNanos(99) / 1e6, s.maxNanos() / 1e6, errors);
    }
}
