package io.virtfleet.bench;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.virtfleet.common.metrics.DaemonMetrics;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.metrics.FleetMetrics;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.proto.v1.HostReport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One scrape of the controller's metrics as its endpoint answers it (collect, then write Prometheus's text format)
 * at {@code hosts} hosts and {@code perHost} VMs per host, against the baseline of a registry without the fleet (JVM
 * and event metrics only, what any daemon of ours costs), in the same run. One thread: a scrape runs on one of the
 * endpoint's threads. Its size is printed at setup; {@code listVms} times the VM list alone, the part of the scrape
 * that {@code VmService.list} is. Run: {@code deploy/bench/run-scrape-bench.sh}.
 *
 * <p>The fleet is a real {@link Controller} (plaintext test mode, in this JVM) started on a data directory seeded
 * with the VMs' records and claims ({@link SeededVms}), so the scrape reads what the running controller reads: the
 * VMs through {@code VmService.list} (each record decorated with its observed phase, its domain's state from its home
 * host's report and its install phase, then sorted by name), the claims from the scheduler, the hosts from the
 * registry. The hosts are registered in the controller's registry with the reports simulated agents send ({@link
 * SimulatedAgent}, one domain per VM of the host; one host in ten on the commit before the repository's head), and
 * one in-step fan-out is recorded for each, as after a commit. The reconciler's passes are put off (no agent
 * answers here) and hosts stay reachable for an hour without heartbeats.
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

    @Param({"10"})
    int perHost;

    private Path dataDir;
    private Controller controller;
    private PrometheusRegistry fleet;
    private PrometheusRegistry baseline;
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 22);

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        // A line per registered host is noise here.
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        dataDir = Files.createTempDirectory("vf-scrape-bench");
        SeededVms.Commits commits = SeededVms.seed(dataDir, hosts, perHost);
        ControllerConfig config = ControllerConfig.of(new InetSocketAddress("127.0.0.1", 0), Duration.ofSeconds(1),
                Duration.ofHours(1), dataDir).withPlaintextForTests();
        controller = Controller.create(config.withProvisioning(config.provisioning()
                .withReconcileInterval(Duration.ofDays(1)))).start();
        for (int h = 0; h < hosts; h++) {
            HostReport report = SimulatedAgent.report(h, perHost).toBuilder()
                    .setSyncedCommit(h % 10 == 0 ? commits.before() : commits.head()).build();
            controller.registry().register(new UUID(0x5eed, h).toString(), "127.0.0.1:" + (20000 + h), "0.1.0",
                    List.of("ssd", "sata", "raw"), report);
            controller.metrics().fanOut(new FanOut.HostResult(report.getHostName(), FanOut.Outcome.IN_STEP, "",
                    commits.head(), Duration.ofMillis(40)));
        }
        if (controller.vms().list().size() != hosts * perHost || controller.registry().all().size() != hosts) {
            throw new IllegalStateException("the controller has " + controller.vms().list().size() + " VMs and "
                    + controller.registry().all().size() + " hosts; expected " + hosts * perHost + " and " + hosts);
        }
        fleet = controller.metrics().registry();
        baseline = new FleetMetrics(DaemonMetrics.registryWithJvm()).registry();
        System.err.printf("scrape size: fleet %,d bytes in %,d lines; baseline %,d bytes%n", scrape(fleet),
                out.toString().lines().count(), scrape(baseline));
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (controller != null) {
            controller.close();
        }
        Bench.deleteTree(dataDir);
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

    /** The part of a scrape that is {@code VmService.list} (what {@code virtfleet vm list} costs the controller too). */
    @Benchmark
    public int listVms() {
        return controller.vms().list().size();
    }
}
