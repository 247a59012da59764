package io.virtfleet.controller.registry;

import io.virtfleet.common.units.Durations;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.proto.v1.HostState;
import java.time.Duration;
import java.util.Optional;

/**
 * Judges a host's state from the controller's own clock: a host declared lost (fenced) is fenced whatever else,
 * until an operator unfences it; a host is unreachable once no heartbeat arrived
 * for longer than the grace, degraded while its agent reports no working libvirt, draining when an operator
 * drained it, ready otherwise. Computed on every read, so the answer is exact without timers.
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
            return new Verdict(HostState.HOST_STATE_FENCED, "lost: " + how + " by " + f.by() + " at " + f.fencedAt()
                    + "; `virtfleet host unfence " + host.name() + "` once it stood down");
        }
        long silentNanos = nowNanos - host.lastSeenNanos();
        if (silentNanos > grace.toNanos()) {
            return new Verdict(HostState.HOST_STATE_UNREACHABLE, "no heartbeat for "
                    + Durations.shortText(Duration.ofNanos(silentNanos)) + " (grace " + Durations.shortText(grace) + ")");
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
}
