package io.virtfleet.controller.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.scheduler.Claim;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What the fleet is, read when Prometheus scrapes: one gauge family per host fact and per VM fact, computed from
 * the controller's in-memory state (the registry's latest reports, the liveness verdicts, the claims, the VMs as
 * operators list them). Nothing is kept up to date between scrapes, so heartbeats pay nothing for it. Runs on the metrics
 * endpoint's threads; it takes the scheduler's lock once, briefly, to copy the claims, and no lock across I/O (a
 * commit's time is read from the repository at most once per commit).
 */
public final class FleetCollector implements MultiCollector {
    /** What the collector reads; each a cheap in-memory read. */
    public interface Sources {
        Collection<HostRecord> hosts();

        Liveness.Verdict judge(HostRecord host, long nowNanos);

        long nanoTime();

        List<Claim> claims();

        /**
         * The VMs as operators see them: phase as last observed, install phase, and the state of the domain in the
         * home host's latest report.
         */
        Collection<Vm> vms();

        /** How long the host's part of the latest fan-out that reached it took; empty before any (or not known). */
        default OptionalDouble lastSyncSeconds(String host) {
            return OptionalDouble.empty();
        }

        /** The repository's current commit. */
        String head();

        /** When a commit of the definitions repository was made; empty for one it does not have. */
        OptionalLong commitTimeUnixMs(String commit);
    }

    /** Commits whose time was read: hosts are on a handful of commits at any moment, so a small memory suffices. */
    private static final int COMMIT_TIMES_KEPT = 64;

    /** The states a host can be in, each shown for every host. */
    private static final List<HostState> HOST_STATES = Arrays.stream(HostState.values())
            .filter(s -> s != HostState.HOST_STATE_UNSPECIFIED && s != HostState.UNRECOGNIZED).toList();
    private static final String UNREPORTED = "unreported";

    private final Sources sources;
    private final Map<String, OptionalLong> commitTimes = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, OptionalLong> eldest) {
            return size() > COMMIT_TIMES_KEPT;
        }
    };

    public FleetCollector(Sources sources) {
        this.sources = sources;
    }

    /** Sources read from the controller's registry, liveness, scheduler, VM store and installs. */
    public static FleetCollector of(HostRegistry registry, Liveness liveness, Supplier<List<Claim>> claims,
                                    Supplier<Collection<Vm>> vms,
                                    Supplier<String> head, Function<String, OptionalLong> commitTime,
                                    Function<String, OptionalDouble> lastSync) {
        return new FleetCollector(new Sources() {
            @Override
            public Collection<HostRecord> hosts() {
                return registry.all();
            }

            @Override
            public Liveness.Verdict judge(HostRecord host, long nowNanos) {
                return liveness.judge(host, nowNanos);
            }

            @Override
            public long nanoTime() {
                return registry.nanoTime();
            }

            @Override
            public List<Claim> claims() {
                return claims.get();
            }

            @Override
            public Collection<Vm> vms() {
                return vms.get();
            }

            @Override
            public OptionalDouble lastSyncSeconds(String host) {
                return lastSync.apply(host);
            }

            @Override
            public String head() {
                return head.get();
            }

            @Override
            public OptionalLong commitTimeUnixMs(String commit) {
                return commitTime.apply(commit);
            }
        });
    }

    /** One gauge family being filled. */
    private static final class Family {
        private final GaugeSnapshot.Builder builder;

        Family(String name, String help, Unit unit) {
            builder = GaugeSnapshot.builder().name(name).help(help);
            if (unit != null) {
                builder.unit(unit);
            }
        }

        void add(double value, String... labels) {
            builder.dataPoint(GaugeDataPointSnapshot.builder().value(value).labels(Labels.of(labels)).build());
        }

        MetricSnapshot build() {
            return builder.build();
        }
    }

    @Override
    public MetricSnapshots collect() {
        List<MetricSnapshot> out = new ArrayList<>();
        hosts(out);
        vms(out);
        return new MetricSnapshots(out);
    }

    private void hosts(List<MetricSnapshot> out) {
        Family state = new Family("virtfleet_host_state",
                "1 for the host's current state, 0 for the others (ready, degraded, unreachable, draining, fenced)",
                null);
        Family load1 = new Family("virtfleet_host_load1", "The host's 1-minute load average", null);
        Family load5 = new Family("virtfleet_host_load5", "The host's 5-minute load average", null);
        Family load15 = new Family("virtfleet_host_load15", "The host's 15-minute load average", null);
        Family threads = new Family("virtfleet_host_cpu_threads", "The host's hardware threads", null);
        Family cpu = new Family("virtfleet_host_cpu_utilisation_ratio",
                "Share of the host's CPU time in use at its last report, 0 to 1", Unit.RATIO);
        Family memTotal = new Family("virtfleet_host_memory_total_bytes", "The host's memory", Unit.BYTES);
        Family memUsed = new Family("virtfleet_host_memory_used_bytes",
                "The host's memory in use (total less available)", Unit.BYTES);
        Family running = new Family("virtfleet_host_vms_running", "Domains running on the host", null);
        Family defined = new Family("virtfleet_host_vms_defined",
                "Domains defined on the host (running or not, replicas included)", null);
        Family claimedMemory = new Family("virtfleet_host_claimed_memory_bytes",
                "Memory promised to the VMs placed on the host (their claims)", Unit.BYTES);
        Family claimedVcpus = new Family("virtfleet_host_claimed_vcpus",
                "Virtual CPUs promised to the VMs placed on the host (their claims)", null);
        Family claimedRaw = new Family("virtfleet_host_claimed_raw_disk_bytes",
                "Local (raw) disk promised to the VMs placed on the host (their claims)", Unit.BYTES);
        Family heartbeatAge = new Family("virtfleet_host_last_heartbeat_age_seconds",
                "Time since the controller last heard the host's agent", Unit.SECONDS);
        Family lastSync = new Family("virtfleet_host_last_sync_duration_seconds",
                "How long the host's part of the latest fan-out of the definitions that reached it took", Unit.SECONDS);
        Family lag = new Family("virtfleet_host_synced_commit_lag_seconds",
                "How much older the host's synced definitions commit is than the repository's (0: in step)",
                Unit.SECONDS);

        Map<String, long[]> claimed = new HashMap<>();
        for (Claim c : sources.claims()) {
            long[] sum = claimed.computeIfAbsent(c.host(), h -> new long[3]);
            sum[0] += c.memoryBytes();
            sum[1] += c.vcpus();
            sum[2] += c.rawBytes();
        }
        String head = sources.head();
        OptionalLong headTime = commitTime(head);
        long now = sources.nanoTime();
        for (HostRecord h : sources.hosts()) {
            String host = h.name();
            HostState current = sources.judge(h, now).state();
            for (HostState s : HOST_STATES) {
                // Every state, 1 or 0 (Prometheus's enum convention): a change shows as 1 to 0, not a series gone stale.
                state.add(s == current ? 1 : 0, "host", host, "state", FleetMetrics.label(s.name(), "HOST_STATE_"));
            }
            HostResources r = h.report().getResources();
            load1.add(r.getLoadAverage1M(), "host", host);
            load5.add(r.getLoadAverage5M(), "host", host);
            load15.add(r.getLoadAverage15M(), "host", host);
            threads.add(r.getLogicalThreads(), "host", host);
            cpu.add(r.getCpuUtilisationPercent() / 100.0, "host", host);
            memTotal.add(r.getMemoryTotalBytes(), "host", host);
            memUsed.add(Math.max(0, r.getMemoryTotalBytes() - r.getMemoryAvailableBytes()), "host", host);
            int up = 0;
            for (DomainInfo d : h.report().getDomainsList()) {
                if (d.getState() == DomainState.DOMAIN_STATE_RUNNING) {
                    up++;
                }
            }
            running.add(up, "host", host);
            defined.add(h.report().getDomainsCount(), "host", host);
            long[] sum = claimed.getOrDefault(host, new long[3]);
            claimedMemory.add(sum[0], "host", host);
            claimedVcpus.add(sum[1], "host", host);
            claimedRaw.add(sum[2], "host", host);
            OptionalDouble synced = sources.lastSyncSeconds(host);
            if (synced.isPresent()) {
                lastSync.add(synced.getAsDouble(), "host", host);
            }
            heartbeatAge.add(Unit.nanosToSeconds(Math.max(0, now - h.lastSeenNanos())), "host", host);
            String commit = h.report().getSyncedCommit();
            if (commit.equals(head)) {
                lag.add(0, "host", host);
            } else if (!commit.isEmpty() && headTime.isPresent()) {
                OptionalLong syncedTime = commitTime(commit);
                if (syncedTime.isPresent()) {
                    lag.add(Unit.millisToSeconds(Math.max(0, headTime.getAsLong() - syncedTime.getAsLong())),
                            "host", host);
                }
            }
        }
        out.addAll(List.of(state.build(), load1.build(), load5.build(), load15.build(), threads.build(), cpu.build(),
                memTotal.build(), memUsed.build(), running.build(), defined.build(), claimedMemory.build(),
                claimedVcpus.build(), claimedRaw.build(), heartbeatAge.build(), lastSync.build(), lag.build()));
    }

    private void vms(List<MetricSnapshot> out) {
        Family info = new Family("virtfleet_vm_info", "1 per VM, labelled with its home host", null);
        Family phase = new Family("virtfleet_vm_phase",
                "1 for the phase of the VM's record (creating, ready, deleting, failed)", null);
        Family wanted = new Family("virtfleet_vm_running_wanted",
                "1 when the VM should be running (started, or never stopped by an operator), 0 when stopped on purpose",
                null);
        Family domain = new Family("virtfleet_vm_domain_state",
                "1 for the state of the VM's domain in its home host's latest report (running, shutoff, paused...;"
                        + " unreported: the home host did not list it)", null);
        Family install = new Family("virtfleet_vm_install_phase",
                "1 for the phase of the VM's unattended install (waiting, preseed_fetched, installed; none: not armed)",
                null);
        for (Vm vm : sources.vms()) {
            String name = vm.getSpec().getName();
            info.add(1, "vm", name, "home", vm.getHomeHost());
            phase.add(1, "phase", FleetMetrics.label(vm.getPhase().name(), "VM_PHASE_"), "vm", name);
            wanted.add(vm.getRunningWanted() ? 1 : 0, "vm", name);
            // One series a VM, the current state's (not every state at 0: that would be eight series a VM).
            domain.add(1, "state", domainState(vm), "vm", name);
            String installPhase = vm.getInstallPhase() == VmInstallPhase.VM_INSTALL_PHASE_UNSPECIFIED ? "none"
                    : FleetMetrics.label(vm.getInstallPhase().name(), "VM_INSTALL_PHASE_");
            install.add(1, "phase", installPhase, "vm", name);
        }
        out.addAll(List.of(info.build(), phase.build(), wanted.build(), domain.build(), install.build()));
    }

    /** The domain state the home host reported for the VM, as the agents' domain gauges name states. */
    private static String domainState(Vm vm) {
        String reported = vm.getDomainState();
        if (reported.isEmpty()) {
            return UNREPORTED;
        }
        try {
            DomainState s = DomainState.valueOf(reported);
            return s == DomainState.DOMAIN_STATE_UNSPECIFIED || s == DomainState.UNRECOGNIZED ? UNREPORTED
                    : FleetMetrics.label(s.name(), "DOMAIN_STATE_");
        } catch (IllegalArgumentException e) {
            return UNREPORTED;
        }
    }

    /** Read once per commit; the scrape is on the endpoint's own threads, never an event loop. */
    private OptionalLong commitTime(String commit) {
        if (commit == null || commit.isEmpty()) {
            return OptionalLong.empty();
        }
        synchronized (commitTimes) {
            OptionalLong known = commitTimes.get(commit);
            if (known != null) {
                return known;
            }
        }
        OptionalLong read = sources.commitTimeUnixMs(commit);
        synchronized (commitTimes) {
            commitTimes.put(commit, read);
        }
        return read;
    }
}
