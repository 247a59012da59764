package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.virtfleet.common.metrics.DaemonMetrics;
import io.virtfleet.controller.metrics.FleetCollector;
import io.virtfleet.controller.metrics.FleetMetrics;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.scheduler.Claim;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One scrape of the controller's metrics as its endpoint answers it (collect, then write Prometheus's text format)
 * at {@code hosts} hosts with 10 domains each and {@code vms} VMs, each with a claim, every host with a fan-out
 * histogram; against the baseline of the same registry without the fleet (JVM and event metrics only, what any
 * daemon of ours costs), in the same run. One thread: a scrape runs on one of the endpoint's threads. Its size is
 * printed at setup. Run: {@code deploy/bench/run-scrape-bench.sh}.
 */
@State(Scope.Thread)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class ScrapeBench {
    @Param({"1000"})
    int hosts;

    @Param({"10000"})
    int vms;

    private PrometheusRegistry fleet;
    private PrometheusRegistry baseline;
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 22);

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        long now = System.nanoTime();
        List<HostRecord> records = new ArrayList<>();
        for (int h = 0; h < hosts; h++) {
            String name = String.format("hv%04d", h);
            HostReport.Builder report = HostReport.newBuilder().setHostName(name).setSyncedCommit(h % 10 == 0 ? "old" : "head")
                    .setResources(HostResources.newBuilder().setLogicalThreads(32).setLoadAverage1M(h % 17)
                            .setLoadAverage5M(h % 13).setLoadAverage15M(h % 11).setCpuUtilisationPercent(h % 100)
                            .setMemoryTotalBytes(256 * GIB).setMemoryAvailableBytes((h % 200) * GIB));
            for (int d = 0; d < 10; d++) {
                report.addDomains(DomainInfo.newBuilder().setName(name + "-vm" + d)
                        .setState(d % 4 == 0 ? DomainState.DOMAIN_STATE_SHUTOFF : DomainState.DOMAIN_STATE_RUNNING));
            }
            records.add(new HostRecord(name, "agent-" + h, "s", name + ":7441", "0.1.0", List.of("ssd", "raw"), 0,
                    now, System.currentTimeMillis(), report.build()));
        }
        List<Vm> vmList = new ArrayList<>();
        List<Claim> claims = new ArrayList<>();
        for (int v = 0; v < vms; v++) {
            String name = String.format("vm%05d", v);
            String home = records.get(v % hosts).name();
            vmList.add(Vm.newBuilder().setSpec(VmSpec.newBuilder().setName(name)).setHomeHost(home)
                    .setPhase(VmPhase.VM_PHASE_READY).build());
            claims.add(new Claim(name, home, 4 * GIB, 2, StorageTier.STORAGE_TIER_SSD, 0, null, 0));
        }
        Liveness liveness = new Liveness(Duration.ofSeconds(15));
        FleetMetrics metrics = new FleetMetrics(DaemonMetrics.registryWithJvm());
        for (HostRecord r : records) {
            metrics.fanOut(new FanOut.HostResult(r.name(), FanOut.Outcome.IN_STEP, "", "head", Duration.ofMillis(40)));
        }
        metrics.registry().register(new FleetCollector(new FleetCollector.Sources() {
            @Override
            public Collection<HostRecord> hosts() {
                return records;
            }

            @Override
            public Liveness.Verdict judge(HostRecord host, long nowNanos) {
                return liveness.judge(host, nowNanos);
            }

            @Override
            public long nanoTime() {
                return System.nanoTime();
            }

            @Override
            public List<Claim> claims() {
                return List.copyOf(claims); // as the scheduler copies its claims
            }

            @Override
            public Collection<Vm> vms() {
                return List.copyOf(vmList);
            }

            @Override
            public String head() {
                return "head";
            }

            @Override
            public OptionalLong commitTimeUnixMs(String commit) {
                return OptionalLong.of(commit.equals("head") ? 2_000_000 : 1_000_000);
            }
        }));
        fleet = metrics.registry();
        baseline = new FleetMetrics(DaemonMetrics.registryWithJvm()).registry();
        System.err.printf("scrape size: fleet %,d bytes in %,d lines; baseline %,d bytes%n", scrape(fleet),
                out.toString().lines().count(), scrape(baseline));
    }

    private int scrape(PrometheusRegistry registry) throws IOException {
        out.reset();
        writer.write(out, registry.scrape());
        return out.size();
    }

    @Benchmark
    public int scrapeFleet() throws IOException {
        return scrape(fleet);
    }

    @Benchmark
    public int scrapeBaseline() throws IOException {
        return scrape(baseline);
    }
}
