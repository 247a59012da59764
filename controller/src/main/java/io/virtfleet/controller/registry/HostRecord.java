package io.virtfleet.controller.registry;

import io.virtfleet.proto.v1.HostReport;
import java.util.List;

/**
 * What the controller knows about one host: who owns its name, how to reach it, and its latest report.
 * Immutable; the registry swaps in a new record on every heartbeat.
 *
 * @param lastSeenNanos   controller's {@link System#nanoTime()} at the latest heartbeat (liveness uses it,
 *                        so a wrong clock on the host cannot fake liveness)
 * @param lastSeenUnixMs  controller wall-clock time of the latest heartbeat, for display
 */
public record HostRecord(String name, String agentId, String sessionId, String agentEndpoint, String agentVersion,
                         List<String> storageTiers, long registeredAtUnixMs, long lastSeenNanos, long lastSeenUnixMs,
                         HostReport report) {

    public HostRecord {
        storageTiers = List.copyOf(storageTiers);
    }

    HostRecord withHeartbeat(HostReport newReport, long nowNanos, long nowUnixMs) {
        return new HostRecord(name, agentId, sessionId, agentEndpoint, agentVersion, storageTiers,
                registeredAtUnixMs, nowNanos, nowUnixMs, newReport);
    }
}
