package io.virtfleet.controller.registry;

import io.virtfleet.common.units.Durations;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostState;
import java.time.Duration;
import java.util.Optional;

/**
 * Judges a host's state from the controller's own clock: a host declared lost (fenced) is fenced whatever else,
 * until an operator unfences it (its reason says how far its stand-down got); a host is unreachable once no
 * heartbeat arrived for longer than the grace, degraded while its agent reports no working libvirt or still reports
 * standing down (an order it has not yet seen lifted: it starts nothing), draining when an operator drained it,
 * ready otherwise. Computed on every read, so the answer is exact without timers.
 */
public final class Liveness {
    /** A host's state and the reason for it, in words. */
    public record Verdict(HostState state, String reason) {}

    private final Duration grace;
    private final Drains drains;
    private final FenceView fences;

    public Liveness(Duration grace) {
        this(grace, Drains.inMemory());
    }

    public Liveness(Duration grace, Drains drains) {
        this(grace, drains, FenceView.inMemory());
    }

    public Liveness(Duration grace, Drains drains, FenceView fences) {
        this.grace = grace;
        this.drains = drains;
        this.fences = fences;
    }

    public FenceView fences() {
        return fences;
    }

    public Drains drains() {
        return drains;
    }

    public Duration grace() {
        return grace;
    }

    public Verdict judge(HostRecord host, long nowNanos) {
        Optional<Fence> fence = fences.of(host.name());
        if (fence.isPresent()) {
            // First: a lost host never takes a VM, even heartbeating again, until an operator lifts the verdict.
            Fence f = fence.get();
            String how = f.kind() == Fence.Kind.CEPH ? "fenced in Ceph" : "confirmed down";
            String back = host.report().getStandingDown() && !silent(host, nowNanos)
                    ? "; back: " + standingDown(host.report()) : "";
            return new Verdict(HostState.HOST_STATE_FENCED, "lost: " + how + " by " + f.by() + " at " + f.fencedAt()
                    + back + "; `virtfleet host unfence " + host.name() + "` once it stood down");
        }
        long silentNanos = nowNanos - host.lastSeenNanos();
        if (silentNanos > grace.toNanos()) {
            return new Verdict(HostState.HOST_STATE_UNREACHABLE, "no heartbeat for "
                    + Durations.shortText(Duration.ofNanos(silentNanos)) + " (grace " + Durations.shortText(grace) + ")");
        }
        if (host.report().getStandingDown()) {
            // Unfenced, but its agent has not yet heard: it starts nothing until its next heartbeat's answer.
            return new Verdict(HostState.HOST_STATE_DEGRADED, "unfenced; its agent resumes at its next heartbeat ("
                    + standingDown(host.report()) + ")");
        }
        String libvirtError = host.report().getHypervisor().getError();
        if (!libvirtError.isEmpty()) {
            return new Verdict(HostState.HOST_STATE_DEGRADED, libvirtError);
        }
        if (drains.isDrained(host.name())) {
            return new Verdict(HostState.HOST_STATE_DRAINING, "drained by an operator: runs its VMs, takes no new ones"
                    + " (virtfleet host undrain " + host.name() + ")");
        }
        return new Verdict(HostState.HOST_STATE_READY, "heartbeats on time");
    }

    /**
     * Whether no heartbeat came within the grace, fenced or not: a step sent to a silent host would wait out its
     * deadline. Its state says unreachable unless the host is fenced, which {@link #judge} answers first.
     */
    public boolean silent(HostRecord host, long nowNanos) {
        return nowNanos - host.lastSeenNanos() > grace.toNanos();
    }

    /** How far a host standing down got, in words. */
    private static String standingDown(HostReport report) {
        String commit = report.getStoodDownCommit();
        String error = report.getStandDownError();
        String done = commit.isEmpty() ? "not stood down yet"
                : "stood down against definitions " + (commit.length() > 12 ? commit.substring(0, 12) : commit);
        return "standing down (fenced): takes and starts no VM; " + done + (error.isEmpty() ? "" : "; " + error);
    }
}
