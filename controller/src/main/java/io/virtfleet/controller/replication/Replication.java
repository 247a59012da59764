package io.virtfleet.controller.replication;

import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.proto.v1.Drift;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostSync;
import io.virtfleet.proto.v1.Vm;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps every host's definitions in step with the repository: fans a new commit out to all hosts (operators see
 * each host's result), reports drift, and on each reconciler pass asks hosts whose replicas drifted to sync
 * again. Agents also catch up by themselves: every heartbeat's answer names the repository's current commit.
 */
public final class Replication {
    private static final Logger log = LoggerFactory.getLogger(Replication.class);

    private final VmStore store;
    private final HostRegistry registry;
    private final FanOut fanOut;
    private final DriftCheck driftCheck;
    private final Executor work;
    private volatile int gitPort;
    /** Hosts found behind at the previous pass: still behind now means they are not catching up by themselves. */
    private Set<String> behindBefore = Set.of();
    /** See {@link #onDriftReport}. */
    private volatile java.util.function.Consumer<DriftReport> driftReports = r -> {};

    public Replication(VmStore store, HostRegistry registry, FanOut fanOut, DriftCheck driftCheck, Executor work) {
        this.store = store;
        this.registry = registry;
        this.fanOut = fanOut;
        this.driftCheck = driftCheck;
        this.work = work;
    }

    /** The port agents pull the definitions from; 0 until the git server is up (or when there is none). */
    /** Hears the drift report of each repair pass: metrics show its counts. */
    public void onDriftReport(java.util.function.Consumer<DriftReport> listener) {
        this.driftReports = java.util.Objects.requireNonNull(listener, "listener");
    }

    public int gitPort() {
        return gitPort;
    }

    public void gitServerListening(int port) {
        this.gitPort = port;
    }

    /** Syncs every host to the repository's current commit, reporting each host's result. */
    public List<FanOut.HostResult> syncAll(Progress progress) {
        return fanOut.syncAll(store.repo().headNow(), progress);
    }

    /** Syncs these hosts to the repository's current commit, reporting each host's result. */
    public List<FanOut.HostResult> sync(java.util.Collection<String> hosts, Progress progress) {
        return fanOut.sync(store.repo().headNow(), hosts, progress);
    }

    /** {@link #syncAll} on the VM work threads, so a create can go on with its own steps meanwhile. */
    public CompletableFuture<List<FanOut.HostResult>> syncAllSoon(Progress progress) {
        String commit = store.repo().headNow();
        try {
            return CompletableFuture.supplyAsync(() -> fanOut.syncAll(commit, progress), work);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.completedFuture(List.of()); // stopping: the agents catch up from the next controller
        }
    }

    public DriftReport drift() {
        return driftCheck.report();
    }

    /**
     * One repair pass (on the reconciler's thread): hosts with a replica that is missing, stale, changed by hand
     * while shut off, or left over, and hosts that stayed behind since the previous pass, are asked to sync.
     * Home-host definitions are the reconciler's own business (it converges each VM on its home host).
     */
    public void repairPass() {
        DriftReport report = driftCheck.report();
        driftReports.accept(report);
        Set<String> hosts = new TreeSet<>();
        for (Drift d : report.getDriftsList()) {
            Optional<Vm> vm = store.get(d.getVm());
            boolean homeDomain = vm.isPresent() && vm.get().getHomeHost().equals(d.getHost());
            if (d.getRepairable() && !homeDomain) {
                hosts.add(d.getHost());
            }
        }
        Set<String> behind = new TreeSet<>();
        for (HostSync h : report.getHostsList()) {
            // A fenced host catches up through its stand-down (or is silent): no repair sync is sent to it.
            if (h.getBehind() && h.getState() != HostState.HOST_STATE_UNREACHABLE
                    && h.getState() != HostState.HOST_STATE_FENCED) {
                behind.add(h.getHost());
            }
        }
        for (String host : behind) {
            if (behindBefore.contains(host)) {
                hosts.add(host);
            }
        }
        behindBefore = behind;
        if (hosts.isEmpty()) {
            return;
        }
        log.info("replicas out of step on {}: asking them to sync", hosts);
        fanOut.sync(report.getHeadCommit(), hosts, (step, host, detail) -> log.info("sync {}: {}", host, detail));
    }

    /** Hosts other than the VM's home that report its domain, sorted. */
    public List<String> replicaHosts(Vm vm) {
        String name = vm.getSpec().getName();
        return registry.all().stream()
                .filter(h -> !h.name().equals(vm.getHomeHost()))
                .filter(h -> h.report().getDomainsList().stream().anyMatch(d -> d.getName().equals(name)))
                .map(h -> h.name()).sorted().toList();
    }
}
