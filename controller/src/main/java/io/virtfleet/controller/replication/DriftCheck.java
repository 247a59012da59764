package io.virtfleet.controller.replication;

import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.Drift;
import io.virtfleet.proto.v1.DriftKind;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostSync;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiPredicate;

/**
 * Compares what every host reports with the definitions repository: which definitions a host should hold (the
 * VMs it is home to, and a replica of every replicated VM homed elsewhere), which it holds, and whether each
 * is the repository's current one, untouched since virtfleet defined it.
 *
 * <p>The agents report three fingerprints per domain: of the XML virtfleet sent (source), of libvirt's
 * definition right after (defined) and of libvirt's definition now (current). Source differing from the
 * repository's file means the host is behind; current differing from defined means somebody changed it by hand.
 * Hosts that are unreachable, or whose libvirt did not answer, are listed but not judged: their reports may be
 * old.
 */
public final class DriftCheck {
    private final VmStore store;
    private final HostRegistry registry;
    private final Liveness liveness;
    private final BiPredicate<String, HostRecord> converging;

    /**
     * @param converging whether the reconciler is still building a VM on its home host (creating, or failed and
     *                   retrying), or finished it after the host's latest report was taken: its home definition is
     *                   not missing, it is on its way or not reported yet
     */
    public DriftCheck(VmStore store, HostRegistry registry, Liveness liveness, BiPredicate<String, HostRecord> converging) {
        this.store = store;
        this.registry = registry;
        this.liveness = liveness;
        this.converging = converging;
    }

    public DriftReport report() {
        String head;
        try {
            head = store.repo().head();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, String> sources = sourceFingerprints();
        DriftReport.Builder out = DriftReport.newBuilder().setHeadCommit(head);
        List<HostRecord> hosts = registry.all().stream().sorted(Comparator.comparing(HostRecord::name)).toList();
        for (HostRecord h : hosts) {
            HostState state = liveness.judge(h, registry.nanoTime()).state();
            String synced = h.report().getSyncedCommit();
            out.addHosts(HostSync.newBuilder().setHost(h.name()).setState(state).setSyncedCommit(synced)
                    .setBehind(!synced.equals(head)).setSyncError(h.report().getSyncError()));
            if (liveness.silent(h, registry.nanoTime()) || h.report().getDomainsStale()) {
                continue;
            }
            out.addAllDrifts(driftsOf(h, sources, synced.equals(head)));
        }
        return out.build();
    }

    /**
     * Drifts of one host, by VM name.
     *
     * @param inStep whether the host reports being synced to the repository's current commit; a host behind is
     *               judged only on hand changes and foreign domains, as its next sync changes the rest anyway
     */
    public List<Drift> driftsOf(HostRecord host, Map<String, String> sources, boolean inStep) {
        String name = host.name();
        Map<String, DomainInfo> held = new HashMap<>();
        for (DomainInfo d : host.report().getDomainsList()) {
            held.put(d.getName(), d);
        }
        java.util.List<Drift> drifts = new java.util.ArrayList<>();
        for (Vm vm : store.all()) {
            String vmName = vm.getSpec().getName();
            if (!wanted(vm, name)) {
                continue;
            }
            boolean home = vm.getHomeHost().equals(name);
            DomainInfo d = held.remove(vmName);
            String role = home ? "home" : "replica";
            if (d == null) {
                if (!inStep || home && converging.test(vmName, host)) {
                    continue;
                }
                drifts.add(drift(name, vmName, DriftKind.DRIFT_KIND_MISSING, false, true,
                        "not defined here (" + role + "): " + (home ? "the reconciler defines it" : "the next sync defines it")));
                continue;
            }
            boolean running = Domains.active(d.getState());
            if (Domains.changedByHand(d)) {
                drifts.add(drift(name, vmName, DriftKind.DRIFT_KIND_CHANGED_BY_HAND, running, !running, running
                        ? "changed by hand (virsh edit or define) while running: reported, not overwritten; redefine it"
                                + " from the repository once it is stopped, or record the change in virtfleet"
                        : "changed by hand (virsh edit or define): " + (home ? "the reconciler" : "the next sync")
                                + " defines it again from the repository"));
                continue;
            }
            String source = sources.get(vmName);
            if (inStep && source != null && !source.equals(d.getSourceSha256()) && !(home && converging.test(vmName, host))) {
                drifts.add(drift(name, vmName, DriftKind.DRIFT_KIND_STALE, running, true, d.getSourceSha256().isEmpty()
                        ? "defined here, but not by virtfleet: " + (home ? "the reconciler" : "the next sync")
                                + " defines it from the repository"
                        : "an older definition than the repository's (" + role + "): "
                                + (home ? "the reconciler" : "the next sync") + " defines the current one"));
            }
        }
        for (DomainInfo d : held.values()) {
            boolean running = Domains.active(d.getState());
            Optional<Vm> vm = store.get(d.getName());
            String why;
            boolean repairable = d.getReplica() && !running;
            boolean foreign = vm.isEmpty() && !d.getReplica() && d.getSourceSha256().isEmpty();
            if (!inStep && !foreign) {
                continue;
            }
            if (vm.isEmpty()) {
                why = d.getReplica() ? "a replica of a VM no longer in the repository" : "not in the definitions repository:"
                        + " virtfleet did not define it and leaves it alone";
            } else if (vm.get().getPhase() == VmPhase.VM_PHASE_DELETING) {
                why = "its VM is being deleted";
                repairable = true;
            } else {
                why = "VM " + d.getName() + " lives on " + vm.get().getHomeHost() + " and is not replicated";
            }
            if (d.getReplica()) {
                why += running ? "; it runs here, so it is kept: stop it to let the next sync undefine it"
                        : ": the next sync undefines it";
            }
            drifts.add(drift(name, d.getName(), DriftKind.DRIFT_KIND_EXTRA, running, repairable, why).toBuilder()
                    .setForeign(foreign).build());
        }
        drifts.sort(Comparator.comparing(Drift::getVm));
        return drifts;
    }

    /** Whether the host should hold this VM's definition: its home, or any host for a replicated VM. */
    static boolean wanted(Vm vm, String host) {
        if (vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
            return false;
        }
        return vm.getHomeHost().equals(host) || vm.getSpec().getReplicated();
    }

    /** SHA-256 of each VM's definition file in the repository, as the agents fingerprint what they were sent. */
    public Map<String, String> sourceFingerprints() {
        Map<String, String> out = new HashMap<>();
        for (Vm vm : store.all()) {
            try {
                store.fingerprint(vm.getSpec().getName()).ifPresent(f -> out.put(vm.getSpec().getName(), f));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return out;
    }

    private static Drift drift(String host, String vm, DriftKind kind, boolean running, boolean repairable, String detail) {
        return Drift.newBuilder().setHost(host).setVm(vm).setKind(kind).setRunning(running).setRepairable(repairable)
                .setDetail(detail).build();
    }
}
