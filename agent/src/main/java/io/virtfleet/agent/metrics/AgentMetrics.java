package io.virtfleet.agent.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The agent's Prometheus metrics: its libvirt polls, its definitions syncs and the domains libvirt last showed.
 * (The host's CPU, memory and load go to the controller in each report, which exposes them for the whole fleet;
 * the agent's gRPC commands are timed by {@link io.virtfleet.common.metrics.GrpcServerMetrics}.)
 */
public final class AgentMetrics {
    private static final double[] POLL_BOUNDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
        10, 30};
    private static final double[] SYNC_BOUNDS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60, 300};

    private final PrometheusRegistry registry;
    private final Histogram pollSeconds;
    private final Counter pollErrors;
    private final Histogram syncSeconds;

    /**
     * @param host the host's name in the fleet: {@code virtfleet_agent_info} carries it, so queries can join an
     *             agent's series (labelled by the scrape's {@code instance}) with the controller's {@code host} ones
     */
    public AgentMetrics(PrometheusRegistry registry, String host, String version) {
        this.registry = registry;
        Gauge.builder().name("virtfleet_agent_info")
                .help("1, labelled with the agent's host name in the fleet and its version")
                .labelNames("host", "version").register(registry).labelValues(host, version).set(1);
        pollSeconds = Histogram.builder().name("virtfleet_agent_libvirt_poll_duration_seconds")
                .help("Time a poll of libvirt (host and domains) took").unit(Unit.SECONDS).classicOnly()
                .classicUpperBounds(POLL_BOUNDS).register(registry);
        pollErrors = Counter.builder().name("virtfleet_agent_libvirt_poll_errors_total")
                .help("Polls of libvirt that got no complete answer (libvirtd down, hung or refusing)")
                .register(registry);
        syncSeconds = Histogram.builder().name("virtfleet_agent_sync_duration_seconds")
                .help("Time a sync of the definitions repository took, by outcome: complete, incomplete (ran to its"
                        + " end with errors) or refused (could not pull, or no such commit)")
                .unit(Unit.SECONDS).labelNames("outcome").classicOnly().classicUpperBounds(SYNC_BOUNDS)
                .register(registry);
        for (String outcome : List.of("complete", "incomplete", "refused")) {
            syncSeconds.labelValues(outcome); // from zero, so rates are right from the first sync on
        }
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    /** A poll of libvirt ended: whether libvirt answered, and how long it took. Called on the poll thread. */
    public void polled(boolean answered, long nanos) {
        pollSeconds.observe(Unit.nanosToSeconds(nanos));
        if (!answered) {
            pollErrors.inc();
        }
    }

    /** A sync ended with {@code outcome} (complete, incomplete, refused). */
    public void synced(String outcome, long nanos) {
        syncSeconds.labelValues(outcome).observe(Unit.nanosToSeconds(nanos));
    }

    /** Shows, at each scrape, the domains of the latest poll by state (read from memory, libvirt is not asked). */
    public void domainsFrom(Supplier<List<DomainInfo>> domains) {
        GaugeWithCallback.builder().name("virtfleet_agent_domains")
                .help("Domains libvirt showed at the latest poll, by state (running, shutoff, paused...)")
                .labelNames("state").callback(cb -> {
                    Map<DomainState, Integer> byState = new EnumMap<>(DomainState.class);
                    for (DomainInfo d : domains.get()) {
                        byState.merge(d.getState(), 1, Integer::sum);
                    }
                    for (DomainState s : DomainState.values()) {
                        if (s != DomainState.UNRECOGNIZED) {
                            cb.call(byState.getOrDefault(s, 0), s.name().substring("DOMAIN_STATE_".length())
                                    .toLowerCase(Locale.ROOT));
                        }
                    }
                }).register(registry);
    }
}
