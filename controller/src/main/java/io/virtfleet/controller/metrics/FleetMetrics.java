package io.virtfleet.controller.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.scheduler.Decision;
import io.virtfleet.controller.scheduler.Verdict;
import io.virtfleet.proto.v1.DriftKind;
import io.virtfleet.proto.v1.DriftReport;
import java.time.Duration;
import io.virtfleet.controller.failover.Failover;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * The controller's event metrics: what happened, counted and timed as it happens (placements, creates, moves,
 * failovers, fan-outs, reconcile passes, heartbeats). Each record is a few atomic additions, safe from any thread,
 * the event loops included. What the fleet <em>is</em> (hosts, VMs) is read at scrape time by {@link FleetCollector}.
 */
public final class FleetMetrics {
    /** Operations of an operator (seconds to many minutes: a create waits for the VM's disk and definition). */
    private static final double[] OPERATION_BOUNDS = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
    /** A host's sync of the definitions (a git pull and a few defines), up to the fan-out deadline. */
    private static final double[] SYNC_BOUNDS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60};
    /** A heartbeat is handled in well under a millisecond when all is well. */
    private static final double[] HEARTBEAT_BOUNDS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05, 0.1, 0.25, 1};
    /** A reconcile pass: milliseconds on a quiet fleet, up to minutes when hosts are slow. */
    private static final double[] PASS_BOUNDS = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

    private final PrometheusRegistry registry;
    private final Counter placements;
    private final Counter refusals;
    private final Counter operations;
    private final Histogram operationSeconds;
    private final Counter failoverVms;
    private final Histogram failoverSeconds;
    private final Histogram fanOutSeconds;
    private final Histogram reconcileSeconds;
    private final Histogram heartbeatSeconds;
    private final Map<String, Double> lastSyncSeconds = new ConcurrentHashMap<>();
    private volatile DriftCounts drift = new DriftCounts(new EnumMap<>(DriftKind.class), 0, false);

    private record DriftCounts(Map<DriftKind, Integer> byKind, int hostsBehind, boolean known) {}

    public FleetMetrics(PrometheusRegistry registry) {
        this.registry = registry;
        placements = Counter.builder().name("virtfleet_placements_total")
                .help("Placement decisions (create, move, failover), by outcome: placed or refused")
                .labelNames("outcome").register(registry);
        refusals = Counter.builder().name("virtfleet_placement_refusals_total")
                .help("Refused placements by the filter that ruled hosts out (one count per filter per refusal)")
                .labelNames("filter").register(registry);
        operations = Counter.builder().name("virtfleet_vm_operations_total")
                .help("VM creates and moves asked of the controller, by operation and outcome"
                        + " (succeeded, refused: nothing changed, failed)")
                .labelNames("operation", "outcome").register(registry);
        operationSeconds = Histogram.builder().name("virtfleet_vm_operation_duration_seconds")
                .help("Time VM creates and moves took, by operation and outcome").unit(Unit.SECONDS)
                .labelNames("operation", "outcome").classicOnly().classicUpperBounds(OPERATION_BOUNDS)
                .register(registry);
        failoverVms = Counter.builder().name("virtfleet_failover_vms_total")
                .help("VMs of lost hosts that failover handled, by outcome (recovered, down, failed...)")
                .labelNames("outcome").register(registry);
        failoverSeconds = Histogram.builder().name("virtfleet_failover_duration_seconds")
                .help("Time a lost host's recovery took, by outcome: complete (every VM done) or incomplete")
                .unit(Unit.SECONDS).labelNames("outcome").classicOnly().classicUpperBounds(OPERATION_BOUNDS)
                .register(registry);
        // Fleet-wide, without a host label: a per-host histogram would be ~45 series a host, kept after the host is
        // forgotten. The per-host view is the last sync's duration, a gauge FleetCollector shows for present hosts.
        fanOutSeconds = Histogram.builder().name("virtfleet_fanout_host_duration_seconds")
                .help("Time hosts took to sync the definitions when a change was fanned out, one observation per host,"
                        + " by outcome (in_step, catching_up, failed)")
                .unit(Unit.SECONDS).labelNames("outcome").classicOnly().classicUpperBounds(SYNC_BOUNDS)
                .register(registry);
        reconcileSeconds = Histogram.builder().name("virtfleet_reconcile_pass_duration_seconds")
                .help("Time a periodic reconcile pass over every VM took").unit(Unit.SECONDS).classicOnly()
                .classicUpperBounds(PASS_BOUNDS).register(registry);
        heartbeatSeconds = Histogram.builder().name("virtfleet_heartbeat_handling_seconds")
                .help("Time the controller took to handle an agent's heartbeat, from its arrival to its answer sent")
                .unit(Unit.SECONDS).classicOnly().classicUpperBounds(HEARTBEAT_BOUNDS).register(registry);
        // The outcomes known in advance start at zero, so rates and increases are right from the first event on.
        for (String outcome : List.of("placed", "refused")) {
            placements.labelValues(outcome);
        }
        for (String operation : List.of("create", "move")) {
            for (String outcome : List.of(OperationTimer.SUCCEEDED, OperationTimer.REFUSED, OperationTimer.FAILED)) {
                operations.labelValues(operation, outcome);
                operationSeconds.labelValues(operation, outcome);
            }
        }
        for (FanOut.Outcome o : FanOut.Outcome.values()) {
            fanOutSeconds.labelValues(o.name().toLowerCase(Locale.ROOT));
        }
        for (Failover.Outcome o : Failover.Outcome.values()) {
            failoverVms.labelValues(o.name().toLowerCase(Locale.ROOT));
        }
        for (String outcome : List.of("complete", "incomplete")) {
            failoverSeconds.labelValues(outcome);
        }
        GaugeWithCallback.builder().name("virtfleet_drifts")
                .help("Definitions out of step with the repository at the last repair pass, by kind")
                .labelNames("kind").callback(cb -> {
                    DriftCounts d = drift;
                    if (d.known()) {
                        for (DriftKind k : DriftKind.values()) {
                            if (k != DriftKind.DRIFT_KIND_UNSPECIFIED && k != DriftKind.UNRECOGNIZED) {
                                cb.call(d.byKind().getOrDefault(k, 0), label(k.name(), "DRIFT_KIND_"));
                            }
                        }
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("virtfleet_hosts_behind")
                .help("Hosts whose synced commit was behind the repository's at the last repair pass")
                .callback(cb -> {
                    if (drift.known()) {
                        cb.call(drift.hostsBehind());
                    }
                }).register(registry);
    }

    /** The registry these metrics and the fleet's gauges are in: what the metrics endpoint serves. */
    public PrometheusRegistry registry() {
        return registry;
    }

    /** A placement decision was made (placed, or refused with the verdicts that say why). */
    public void placement(Decision d) {
        if (d.placed()) {
            placements.labelValues("placed").inc();
            return;
        }
        placements.labelValues("refused").inc();
        Set<String> filters = new TreeSet<>();
        if (d.explanation() != null) {
            for (Verdict v : d.explanation().verdicts()) {
                if (!v.fits() && v.failedFilter() != null && !v.failedFilter().isEmpty()) {
                    filters.add(v.failedFilter());
                }
            }
        }
        for (String f : filters) {
            refusals.labelValues(f).inc();
        }
    }

    /** A create or a move ended ({@code operation} "create" or "move"; outcome succeeded, refused or failed). */
    public void operation(String operation, String outcome, long nanos) {
        operations.labelValues(operation, outcome).inc();
        operationSeconds.labelValues(operation, outcome).observe(Unit.nanosToSeconds(nanos));
    }

    /** A lost host's recovery ended: each VM's outcome, and the time the whole recovery took. */
    public void failover(Iterable<String> vmOutcomes, boolean complete, long nanos) {
        for (String o : vmOutcomes) {
            failoverVms.labelValues(o.toLowerCase(Locale.ROOT)).inc();
        }
        failoverSeconds.labelValues(complete ? "complete" : "incomplete").observe(Unit.nanosToSeconds(nanos));
    }

    /** One host's part of a fan-out ended: observed fleet-wide, and kept as the host's last sync. */
    public void fanOut(FanOut.HostResult r) {
        fanOut(r, host -> true);
    }

    /**
     * One host's part of a fan-out ended, kept as the host's last sync only while {@code known} says the registry
     * still has it: a fan-out in flight when its host is forgotten ends after {@link #forgetHost}, and must not bring
     * the name back. Checked after the write, so a forget on either side of it leaves nothing.
     */
    public void fanOut(FanOut.HostResult r, Predicate<String> known) {
        Duration took = r.took() == null ? Duration.ZERO : r.took();
        double seconds = Unit.nanosToSeconds(took.toNanos());
        fanOutSeconds.labelValues(r.outcome().name().toLowerCase(Locale.ROOT)).observe(seconds);
        lastSyncSeconds.put(r.host(), seconds);
        if (!known.test(r.host())) {
            lastSyncSeconds.remove(r.host());
        }
    }

    /** How long the host's part of the latest fan-out that reached it took, in seconds; empty before any. */
    public OptionalDouble lastSyncSeconds(String host) {
        Double s = lastSyncSeconds.get(host);
        return s == null ? OptionalDouble.empty() : OptionalDouble.of(s);
    }

    /** The host was forgotten: nothing of it is kept (its gauges went with its record already). */
    public void forgetHost(String host) {
        lastSyncSeconds.remove(host);
    }

    public void reconcilePass(long nanos) {
        reconcileSeconds.observe(Unit.nanosToSeconds(nanos));
    }

    /** Called on the event loop for each heartbeat: one histogram observation. */
    public void heartbeat(long nanos) {
        heartbeatSeconds.observe(Unit.nanosToSeconds(nanos));
    }

    /** The drift report of a repair pass: its counts are shown until the next one. */
    public void drift(DriftReport report) {
        Map<DriftKind, Integer> byKind = new EnumMap<>(DriftKind.class);
        report.getDriftsList().forEach(d -> byKind.merge(d.getKind(), 1, Integer::sum));
        int behind = (int) report.getHostsList().stream().filter(h -> h.getBehind()).count();
        drift = new DriftCounts(byKind, behind, true);
    }

    /** A proto enum's name as a label value: prefix dropped, lower case (HOST_STATE_READY: ready). */
    static String label(String enumName, String prefix) {
        String s = enumName.startsWith(prefix) ? enumName.substring(prefix.length()) : enumName;
        return s.toLowerCase(Locale.ROOT);
    }
}
