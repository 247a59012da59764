package io.virtfleet.controller.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.scheduler.Claim;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmInstallPhase;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The fleet's gauges as a scrape reads them from the controller's records: the liveness verdict of a silent host,
 * claims summed per host, how far behind a host's synced commit is, and a commit's time read once.
 */
class FleetCollectorTest {
    private static final long SECOND = 1_000_000_000L;

    private final Map<String, Long> commitTimes = new HashMap<>(Map.of("c1", 1_000_000L, "c2", 1_090_000L));
    private final AtomicInteger commitReads = new AtomicInteger();
    private final Map<String, Double> lastSyncs = new HashMap<>();
    private long now = 100 * SECOND;

    private HostRecord host(String name, long lastSeenNanos, String synced) {
        return new HostRecord(name, "a-" + name, "s", name + ":7441", "0.1", List.of("raw"), 0, lastSeenNanos, 0,
                HostReport.newBuilder().setHostName(name).setSyncedCommit(synced).setResources(HostResources.newBuilder()
                        .setLogicalThreads(8).setMemoryTotalBytes(1000).setMemoryAvailableBytes(250)).build());
    }

    private FleetCollector collector(List<HostRecord> hosts, List<Claim> claims, List<Vm> vms) {
        Liveness liveness = new Liveness(Duration.ofSeconds(15));
        return new FleetCollector(new FleetCollector.Sources() {
            @Override
            public Collection<HostRecord> hosts() {
                return hosts;
            }

            @Override
            public Liveness.Verdict judge(HostRecord host, long nowNanos) {
                return liveness.judge(host, nowNanos);
            }

            @Override
            public long nanoTime() {
                return now;
            }

            @Override
            public List<Claim> claims() {
                return claims;
            }

            @Override
            public Collection<Vm> vms() {
                return vms;
            }

            @Override
            public OptionalDouble lastSyncSeconds(String host) {
                Double s = lastSyncs.get(host);
                return s == null ? OptionalDouble.empty() : OptionalDouble.of(s);
            }

            @Override
            public String head() {
                return "c2";
            }

            @Override
            public OptionalLong commitTimeUnixMs(String commit) {
                commitReads.incrementAndGet();
                Long t = commitTimes.get(commit);
                return t == null ? OptionalLong.empty() : OptionalLong.of(t);
            }
        });
    }

    /** The value of {@code family}'s data point with exactly these labels, or null. */
    private static Double value(MetricSnapshots snapshots, String family, String... labels) {
        for (MetricSnapshot m : snapshots) {
            if (m.getMetadata().getPrometheusName().equals(family)) {
                for (GaugeSnapshot.GaugeDataPointSnapshot p : ((GaugeSnapshot) m).getDataPoints()) {
                    if (p.getLabels().equals(io.prometheus.metrics.model.snapshots.Labels.of(labels))) {
                        return p.getValue();
                    }
                }
            }
        }
        return null;
    }

    @Test
    void hostsShowTheirVerdictClaimsMemoryAndHowFarBehindTheirDefinitionsAre() {
        List<HostRecord> hosts = List.of(host("hv1", now - SECOND, "c2"), host("hv2", now - 20 * SECOND, "c1"),
                host("hv3", now, "unknown-commit"));
        List<Claim> claims = List.of(new Claim("a", "hv1", 300, 2, StorageTier.STORAGE_TIER_RAW, 50, null, 0),
                new Claim("b", "hv1", 200, 1, StorageTier.STORAGE_TIER_SSD, 0, null, 0));
        MetricSnapshots s = collector(hosts, claims, List.of()).collect();

        assertEquals(1.0, value(s, "virtfleet_host_state", "host", "hv1", "state", "ready"));
        assertEquals(1.0, value(s, "virtfleet_host_state", "host", "hv2", "state", "unreachable"), "silent 20 s > 15 s");
        // Every state for every host, 0 but for the current one: a change is a 1 going to 0, not a series vanishing.
        for (String state : List.of("ready", "degraded", "unreachable", "draining", "fenced")) {
            assertEquals(state.equals("unreachable") ? 1.0 : 0.0, value(s, "virtfleet_host_state", "host", "hv2",
                    "state", state), state);
        }
        assertEquals(15, points(s, "virtfleet_host_state", "host", null), "five states for each of three hosts");
        assertEquals(20.0, value(s, "virtfleet_host_last_heartbeat_age_seconds", "host", "hv2"));
        assertEquals(750.0, value(s, "virtfleet_host_memory_used_bytes", "host", "hv1"));
        assertEquals(500.0, value(s, "virtfleet_host_claimed_memory_bytes", "host", "hv1"));
        assertEquals(3.0, value(s, "virtfleet_host_claimed_vcpus", "host", "hv1"));
        assertEquals(50.0, value(s, "virtfleet_host_claimed_raw_disk_bytes", "host", "hv1"));
        assertEquals(0.0, value(s, "virtfleet_host_claimed_memory_bytes", "host", "hv2"), "no claim: zero, not absent");
        assertEquals(0.0, value(s, "virtfleet_host_synced_commit_lag_seconds", "host", "hv1"));
        assertEquals(90.0, value(s, "virtfleet_host_synced_commit_lag_seconds", "host", "hv2"), "c2 is 90 s after c1");
        assertEquals(null, value(s, "virtfleet_host_synced_commit_lag_seconds", "host", "hv3"),
                "a commit the repository does not have has no lag to show");
    }

    @Test
    void aCommitsTimeIsReadOnceNotAtEveryScrape() {
        FleetCollector c = collector(List.of(host("hv1", now, "c1"), host("hv2", now, "c1")), List.of(), List.of());
        c.collect();
        c.collect();
        assertEquals(2, commitReads.get(), "c2 (the head) and c1, once each");
    }

    @Test
    void vmsShowTheirHomePhaseWhetherTheyShouldRunTheirDomainsStateAndInstallPhase() {
        List<Vm> vms = List.of(
                Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("web")).setHomeHost("hv1").setRunningWanted(true)
                        .setDomainState(DomainState.DOMAIN_STATE_RUNNING.name())
                        .setPhase(VmPhase.VM_PHASE_READY).setInstallPhase(VmInstallPhase.VM_INSTALL_PHASE_INSTALLED).build(),
                Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("db")).setHomeHost("hv2").setRunningWanted(true)
                        .setPhase(VmPhase.VM_PHASE_CREATING).build(),
                Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("down")).setHomeHost("hv2").setRunningWanted(true)
                        .setDomainState(DomainState.DOMAIN_STATE_SHUTOFF.name()).setPhase(VmPhase.VM_PHASE_READY).build(),
                Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("parked")).setHomeHost("hv2").setRunningWanted(false)
                        .setDomainState(DomainState.DOMAIN_STATE_SHUTOFF.name()).setPhase(VmPhase.VM_PHASE_READY).build());
        MetricSnapshots s = collector(List.of(), List.of(), vms).collect();
        assertEquals(1.0, value(s, "virtfleet_vm_info", "home", "hv1", "vm", "web"));
        assertEquals(1.0, value(s, "virtfleet_vm_phase", "phase", "ready", "vm", "web"));
        assertEquals(1.0, value(s, "virtfleet_vm_phase", "phase", "creating", "vm", "db"));
        assertEquals(null, value(s, "virtfleet_vm_phase", "phase", "ready", "vm", "db"), "one phase per VM");
        assertEquals(null, value(s, "virtfleet_vm_state", "state", "ready", "vm", "web"), "the phase is not called state");
        assertEquals(1.0, value(s, "virtfleet_vm_install_phase", "phase", "installed", "vm", "web"));
        assertEquals(1.0, value(s, "virtfleet_vm_install_phase", "phase", "none", "vm", "db"));

        // What the home host reported: running, shut off, or nothing yet.
        assertEquals(1.0, value(s, "virtfleet_vm_domain_state", "state", "running", "vm", "web"));
        assertEquals(1.0, value(s, "virtfleet_vm_domain_state", "state", "shutoff", "vm", "down"));
        assertEquals(1.0, value(s, "virtfleet_vm_domain_state", "state", "unreported", "vm", "db"));
        assertEquals(4, points(s, "virtfleet_vm_domain_state", "vm", null), "one state per VM");
        assertEquals(1.0, value(s, "virtfleet_vm_running_wanted", "vm", "down"));
        assertEquals(0.0, value(s, "virtfleet_vm_running_wanted", "vm", "parked"));

        // "Should run but does not": wanted, and not reported running. The stopped-on-purpose one is not among them.
        List<String> notRunning = new ArrayList<>();
        for (Vm vm : vms) {
            String name = vm.getSpec().getName();
            if (value(s, "virtfleet_vm_running_wanted", "vm", name) == 1.0
                    && value(s, "virtfleet_vm_domain_state", "state", "running", "vm", name) == null) {
                notRunning.add(name);
            }
        }
        assertEquals(List.of("db", "down"), notRunning);
    }

    @Test
    void aForgottenHostLeavesNoSeries() {
        List<HostRecord> hosts = new ArrayList<>(List.of(host("hv1", now, "c2"), host("hv2", now, "c2")));
        lastSyncs.put("hv1", 0.04);
        lastSyncs.put("hv2", 1.5);
        FleetCollector c = collector(hosts, List.of(), List.of());
        MetricSnapshots before = c.collect();
        assertEquals(1.5, value(before, "virtfleet_host_last_sync_duration_seconds", "host", "hv2"));
        assertEquals(0.04, value(before, "virtfleet_host_last_sync_duration_seconds", "host", "hv1"));
        assertTrue(points(before, null, "host", "hv2") > 10, "hv2 has its series");

        hosts.remove(1); // forgotten: its record is gone from the registry
        MetricSnapshots after = c.collect();
        assertEquals(0, points(after, null, "host", "hv2"), "no series names hv2 any more");
        assertEquals(0.04, value(after, "virtfleet_host_last_sync_duration_seconds", "host", "hv1"));
    }

    /** Data points of {@code family} (any, when null) whose label {@code label} is {@code value} (any, when null). */
    private static int points(MetricSnapshots snapshots, String family, String label, String value) {
        int n = 0;
        for (MetricSnapshot m : snapshots) {
            if (family == null || m.getMetadata().getPrometheusName().equals(family)) {
                for (GaugeSnapshot.GaugeDataPointSnapshot p : ((GaugeSnapshot) m).getDataPoints()) {
                    String v = p.getLabels().get(label);
                    if (v != null && (value == null || v.equals(value))) {
                        n++;
                    }
                }
            }
        }
        return n;
    }
}
