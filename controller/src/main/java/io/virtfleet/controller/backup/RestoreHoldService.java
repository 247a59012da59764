package io.virtfleet.controller.backup;

import io.grpc.Status;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.controller.move.Rehoming;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.reconcile.VmLocks;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
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
    private final List<Runnable> onRelease = new java.util.concurrent.CopyOnWriteArrayList<>();

    public RestoreHoldService(RestoreHold hold, VmStore store, HostRegistry registry, Liveness liveness,
                              Reconciler reconciler, Rehoming rehoming) {
        this.hold = hold;
        this.store = store;
        this.registry = registry;
        this.liveness = liveness;
        this.reconciler = reconciler;
        this.rehoming = rehoming;
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
     * Lifts the hold; with {@code follow}, first gives each followable VM a record naming the host it runs on (one
     * commit each, {@code operator} as author). The marker is deleted last, so a failure midway leaves the hold on.
     */
    public ReleaseRestoreHoldResponse release(boolean follow, String operator) throws IOException {
        if (!hold.holding()) {
            throw Status.FAILED_PRECONDITION.withDescription("the controller does not hold after a restore: nothing to"
                    + " release").asRuntimeException();
        }
        ReleaseRestoreHoldResponse.Builder out = ReleaseRestoreHoldResponse.newBuilder();
        List<RestoreHold.Misplaced> found = misplaced();
        for (RestoreHold.Misplaced m : found) {
            if (!follow || !m.followable()) {
                out.addLeft(toProto(m));
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
        Audit.recordBy(operator, "restore-hold released (backup taken at " + takenAt + "); " + out.getFollowedCount()
                + " record(s) followed, " + out.getLeftCount() + " VM(s) left as they are: "
                + out.getLeftList().stream().map(MisplacedVm::getVm).toList());
        log.info("restore hold released by {}: the reconciler converges the hosts to the records again", operator);
        for (Runnable r : onRelease) {
            r.run();
        }
        return out.build();
    }

    private static MisplacedVm toProto(RestoreHold.Misplaced m) {
        return MisplacedVm.newBuilder().setVm(m.vm()).setRecordedHome(m.recordedHome()).addAllRunningOn(m.runningOn())
                .setFollowable(m.followable()).setDetail(m.reason()).build();
    }
}
