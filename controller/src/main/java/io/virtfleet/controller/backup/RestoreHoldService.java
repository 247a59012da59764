package io.virtfleet.controller.backup;

import io.grpc.Status;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.controller.move.Rehoming;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.reconcile.VmLocks;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.MisplacedVm;
import io.virtfleet.proto.v1.ReleaseRestoreHoldResponse;
import io.virtfleet.proto.v1.RestoreHoldReport;
import io.virtfleet.proto.v1.Vm;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a restored controller's hold shows ({@code virtfleet drift}) and how an admin lifts it: the VMs that do not
 * run on exactly their recorded home, and, on release, the records of those that run on exactly one ready host
 * following them there before the marker goes.
 */
public final class RestoreHoldService {
    private static final Logger log = LoggerFactory.getLogger(RestoreHoldService.class);

    private final RestoreHold hold;
    private final VmStore store;
    private final HostRegistry registry;
    private final Liveness liveness;
    private final Reconciler reconciler;
    private final Rehoming rehoming;
    private final EnrolledHosts enrolled;
    private final FenceView fences;
    private final List<Runnable> onRelease = new java.util.concurrent.CopyOnWriteArrayList<>();

    public RestoreHoldService(RestoreHold hold, VmStore store, HostRegistry registry, Liveness liveness,
                              Reconciler reconciler, Rehoming rehoming, EnrolledHosts enrolled, FenceView fences) {
        this.hold = hold;
        this.store = store;
        this.registry = registry;
        this.liveness = liveness;
        this.reconciler = reconciler;
        this.rehoming = rehoming;
        this.enrolled = enrolled;
        this.fences = fences;
    }

    public RestoreHold hold() {
        return hold;
    }

    /** Work to start once the hold is lifted (host-loss detection, which may fence and fail over). */
    public void onRelease(Runnable work) {
        onRelease.add(work);
    }

    /** The hold's state and the misplaced VMs, now. */
    public RestoreHoldReport report() {
        RestoreHoldReport.Builder b = RestoreHoldReport.newBuilder().setHolding(hold.holding());
        if (!hold.holding()) {
            return b.build();
        }
        b.setBackupTakenAt(hold.backupTakenAt().map(Object::toString).orElse(""));
        for (RestoreHold.Misplaced m : misplaced()) {
            b.addMisplaced(toProto(m));
        }
        return b.build();
    }

    /** The drift report with the hold's part added. */
    public DriftReport decorate(DriftReport report) {
        return hold.holding() ? report.toBuilder().setRestoreHold(report()).build() : report;
    }

    private List<RestoreHold.Misplaced> misplaced() {
        Map<String, List<DomainInfo>> domains = new HashMap<>();
        Set<String> stale = new HashSet<>();
        long now = registry.nanoTime();
        for (HostRecord h : registry.all()) {
            domains.put(h.name(), h.report().getDomainsList());
            if (h.report().getDomainsStale() || liveness.silent(h, now)) {
                stale.add(h.name());
            }
        }
        return RestoreHold.misplaced(store.all(), domains, stale, host -> fit(host, now), d -> Domains.active(d.getState()));
    }

    private boolean fit(String host, long now) {
        Optional<HostRecord> h = registry.get(host);
        return h.isPresent() && !h.get().report().getDomainsStale()
                && liveness.judge(h.get(), now).state() == HostState.HOST_STATE_READY;
    }

    /**
     * The enrolled hosts, other than {@code absent}, whose domains this controller cannot see: not registered since
     * the restart, silent, or with a stale domain list; each with its reason in brackets.
     */
    public List<String> unseenHosts(java.util.Collection<String> absent) throws IOException {
        long now = registry.nanoTime();
        List<String> unseen = new ArrayList<>();
        for (String host : enrolled.hosts()) {
            if (absent.contains(host)) {
                continue;
            }
            Optional<HostRecord> h = registry.get(host);
            if (h.isEmpty()) {
                unseen.add(host + " (not registered since the restart)");
            } else if (liveness.silent(h.get(), now)) {
                unseen.add(host + " (silent)");
            } else if (h.get().report().getDomainsStale()) {
                unseen.add(host + " (its libvirt did not answer: domain list stale)");
            }
        }
        return unseen;
    }

    /**
     * Lifts the hold; with {@code follow}, first gives each followable VM a record naming the host it runs on (one
     * commit each, {@code operator} as author). The marker is deleted last, so a failure midway leaves the hold on.
     *
     * <p>Refused (FAILED_PRECONDITION, nothing changed) while a VM runs on a host other than its recorded home and
     * {@code follow} does not take its record there, unless {@code recordsWin}: the hosts' own boot starts go by the
     * records, so a home that booted during the hold would start a second copy of it on the same disk. With
     * {@code recordsWin} such a VM keeps its record's home, and one that does not run there is recorded as not wanted
     * running (one commit each): nothing is stopped, and neither the reconciler nor its home starts it.
     *
     * <p>Also refused, whatever the flags: while an enrolled host not named in {@code absent} has not registered since
     * the restart, is silent or reports a stale domain list (a VM running there unseen would count as running nowhere
     * and be started on its recorded home); and while a fenced host runs VMs recorded elsewhere (released, it would
     * be told to stand down and destroy them). {@code absent} names hosts the admin asserts run no domain.
     */
    public ReleaseRestoreHoldResponse release(boolean follow, boolean recordsWin, List<String> absent, String operator)
            throws IOException {
        if (!hold.holding()) {
            throw Status.FAILED_PRECONDITION.withDescription("the controller does not hold after a restore: nothing to"
                    + " release").asRuntimeException();
        }
        long now = registry.nanoTime();
        Set<String> enrolledHosts = enrolled.hosts();
        for (String host : absent) {
            if (!enrolledHosts.contains(host)) {
                throw Status.INVALID_ARGUMENT.withDescription("--absent " + host + ": not a host this controller knows"
                        + " as enrolled; accepted: " + (enrolledHosts.isEmpty() ? "none" : String.join(", ",
                        enrolledHosts))).asRuntimeException();
            }
            Optional<HostRecord> h = registry.get(host);
            if (h.isPresent() && !liveness.silent(h.get(), now) && !h.get().report().getDomainsStale()) {
                throw Status.INVALID_ARGUMENT.withDescription("--absent " + host + ": " + host + " is not absent, it"
                        + " reports its domains to this controller; name only hosts that do not report and run no"
                        + " domain").asRuntimeException();
            }
        }
        List<String> unseen = unseenHosts(absent);
        if (!unseen.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription("the hold stays: the controller cannot see what "
                    + unseen.size() + " enrolled host(s) run: " + String.join(", ", unseen) + ". A VM running there"
                    + " counts as running nowhere, and once released its recorded home would start a second copy of it"
                    + " on the same disk. Wait for them to report (virtfleet hosts), or name with --absent HOST each"
                    + " one you know runs no domain (powered off, fenced by hand). Hosts enrolled or re-enrolled after"
                    + " the backup are refused by this controller (their certificate is not in it) and cannot report:"
                    + " enroll them again (virtfleet agent token create --host H --reenroll) before releasing")
                    .asRuntimeException();
        }
        List<String> fencedRunning = fencedHostsRunningVmsRecordedElsewhere();
        if (!fencedRunning.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription("the hold stays, even with --records-win: "
                    + String.join("; ", fencedRunning) + ". Released, a fenced host is told to stand down and destroys"
                    + " the VMs recorded elsewhere. Check that each runs nowhere else, then unfence the host (virtfleet"
                    + " host unfence HOST, allowed while holding) and release again (--follow-running gives their"
                    + " records the host they run on)").asRuntimeException();
        }
        ReleaseRestoreHoldResponse.Builder out = ReleaseRestoreHoldResponse.newBuilder();
        List<RestoreHold.Misplaced> found = misplaced();
        List<RestoreHold.Misplaced> away = new ArrayList<>();
        for (RestoreHold.Misplaced m : found) {
            if (runsAwayFromHome(m) && !(follow && m.followable())) {
                away.add(m);
            }
        }
        if (!away.isEmpty() && !recordsWin) {
            StringBuilder why = new StringBuilder("the hold stays: ").append(away.size()).append(" VM(s) run on a host"
                    + " other than their recorded home, and the home would start a second copy once released:");
            for (RestoreHold.Misplaced m : away) {
                why.append(' ').append(m.vm()).append(" (recorded on ").append(m.recordedHome()).append(", runs on ")
                        .append(String.join(", ", m.runningOn())).append(");");
            }
            why.append(follow ? " --follow-running cannot follow these (see virtfleet drift):"
                    : " use --follow-running to give their records the host they run on, or");
            why.append(" stop the extra copies by hand, or release with --records-win (their records keep their home"
                    + " and are set not to run there; nothing is stopped)");
            throw Status.FAILED_PRECONDITION.withDescription(why.toString()).asRuntimeException();
        }
        for (RestoreHold.Misplaced m : found) {
            if (!follow || !m.followable()) {
                if (recordsWin && away.contains(m)) {
                    out.addLeft(keepRecord(m, operator));
                } else {
                    out.addLeft(toProto(m));
                }
                continue;
            }
            String target = m.runningOn().get(0);
            try (VmLocks.Held h = reconciler.lock(m.vm())) {
                Optional<Vm> vm = store.get(m.vm());
                if (vm.isEmpty() || !vm.get().getHomeHost().equals(m.recordedHome())) {
                    out.addLeft(toProto(m));
                    continue;
                }
                String xml = rehoming.definitionOn(vm.get(), target);
                Vm recorded = rehoming.record(vm.get(), target, xml, "restore-hold release: the record of " + m.vm()
                        + " follows it to " + target + ", where it runs (was " + m.recordedHome() + ")", operator);
                rehoming.claimsFollow(recorded, m.vm() + "/restore-hold");
                Audit.recordBy(operator, "restore-hold release: home of " + m.vm() + " " + m.recordedHome() + " -> "
                        + target + " (where it runs)");
                out.addFollowed(toProto(m));
            }
        }
        String takenAt = hold.backupTakenAt().map(Object::toString).orElse("?");
        hold.release();
        Audit.recordBy(operator, "restore-hold released (backup taken at " + takenAt + ")"
                + (recordsWin ? " with --records-win" : "") + "; " + out.getFollowedCount()
                + " record(s) followed, " + out.getLeftCount() + " VM(s) left as they are: "
                + out.getLeftList().stream().map(MisplacedVm::getVm).toList());
        log.info("restore hold released by {}: the reconciler converges the hosts to the records again", operator);
        for (Runnable r : onRelease) {
            r.run();
        }
        return out.build();
    }

    /** Each registered fenced host that reports active domains whose records home them on another host. */
    private List<String> fencedHostsRunningVmsRecordedElsewhere() {
        List<String> out = new ArrayList<>();
        for (String host : new java.util.TreeSet<>(fences.hosts())) {
            Optional<HostRecord> h = registry.get(host);
            if (h.isEmpty()) {
                continue;
            }
            List<String> vms = new ArrayList<>();
            for (DomainInfo d : h.get().report().getDomainsList()) {
                Optional<Vm> vm = store.get(d.getName());
                if (Domains.active(d.getState()) && vm.isPresent() && !vm.get().getHomeHost().isEmpty()
                        && !vm.get().getHomeHost().equals(host)) {
                    vms.add(d.getName() + " (recorded on " + vm.get().getHomeHost() + ")");
                }
            }
            if (!vms.isEmpty()) {
                out.add(host + " carries a fence and runs " + String.join(", ", vms));
            }
        }
        return out;
    }

    /** Whether a VM runs on some host other than its recorded home (on it too, or not). */
    private static boolean runsAwayFromHome(RestoreHold.Misplaced m) {
        return m.runningOn().stream().anyMatch(h -> !h.equals(m.recordedHome()));
    }

    /**
     * Records win for a VM that runs away from its home: its home stays; if it does not run there and its record wants
     * it running, the record says not wanted running (so its home starts no second copy). Nothing is stopped.
     */
    private MisplacedVm keepRecord(RestoreHold.Misplaced m, String operator) throws IOException {
        try (VmLocks.Held h = reconciler.lock(m.vm())) {
            Optional<Vm> vm = store.get(m.vm());
            if (vm.isEmpty() || m.runningOn().contains(m.recordedHome()) || !vm.get().getRunningWanted()) {
                return toProto(m);
            }
            String xml = store.domainXml(m.vm()).orElseThrow(() -> new IOException("no domain definition for "
                    + m.vm() + " in the definitions repository"));
            store.save(vm.get().toBuilder().setRunningWanted(false).build(), xml, "restore-hold release (records win): "
                    + m.vm() + " stays homed on " + vm.get().getHomeHost() + " but is no longer wanted running there: it"
                    + " runs on " + String.join(", ", m.runningOn()), operator);
            Audit.recordBy(operator, "restore-hold release (records win): " + m.vm() + " not wanted running on its"
                    + " home " + vm.get().getHomeHost() + " (it runs on " + String.join(", ", m.runningOn()) + ")");
            return toProto(m).toBuilder().setDetail(m.reason() + "; records win: the record keeps its home "
                    + vm.get().getHomeHost() + " and no longer wants it running there, so no second copy is started;"
                    + " stop it where it runs, then start it (virtfleet vm start " + m.vm() + "), or move it").build();
        }
    }

    private static MisplacedVm toProto(RestoreHold.Misplaced m) {
        return MisplacedVm.newBuilder().setVm(m.vm()).setRecordedHome(m.recordedHome()).addAllRunningOn(m.runningOn())
                .setFollowable(m.followable()).setDetail(m.reason()).build();
    }
}
