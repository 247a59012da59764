package io.virtfleet.controller.registry;

import io.virtfleet.common.units.Durations;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostState;
import java.time.Duration;

/**
 * Judges a host's state from the controller's own clock: a host is unreachable once no heartbeat arrived
 * for longer than the grace, degraded while its agent reports no working libvirt or reports standing down (it was
 * fenced: it takes no VM, and starts none), draining when an operator drained it, ready otherwise. Computed on every
 * read, so the answer is exact without timers.
 */
public final class Liveness {
    /** A host's state and the reason for it, in words. */
    public record Verdict(HostState state, String reason) {}

    private final Duration grace;
    private final Drains drains;

    public Liveness(Duration grace) {
        this(grace, Drains.inMemory());
    }

    public Liveness(Duration grace, Drains drains) {
        this.grace = grace;
        this.drains = drains;
    }

    public Drains drains() {
        return drains;
    }

    public Duration grace() {
        return grace;
    }

    public Verdict judge(HostRecord host, long nowNanos) {
        long silentNanos = nowNanos - host.lastSeenNanos();
        if (silentNanos > grace.toNanos()) {
            return new Verdict(HostState.HOST_STATE_UNREACHABLE, "no heartbeat for "
                    + Durations.shortText(Duration.ofNanos(silentNanos)) + " (grace " + Durations.shortText(grace) + ")");
        }
        if (host.report().getStandingDown()) {
            return new Verdict(HostState.HOST_STATE_DEGRADED, standingDown(host.report()));
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

    /** How far a host standing down got, in words. */
    private static String standingDown(HostReport report) {
        String commit = report.getStoodDownCommit();
        String error = report.getStandDownError();
        String done = commit.isEmpty() ? "not stood down yet"
                : "stood down against definitions " + (commit.length() > 12 ? commit.substring(0, 12) : commit);
        return "standing down (fenced): takes and starts no VM; " + done + (error.isEmpty() ? "" : "; " + error);
    }
}
