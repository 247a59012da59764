package io.virtfleet.controller.fleet;

import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostResources;

/** Builds the operator's {@link Host} view from the registry's record and the liveness verdict. */
public final class HostViews {
    private HostViews() {}

    public static Host toHost(HostRecord r, Liveness.Verdict verdict, long nowNanos) {
        return Host.newBuilder()
                .setName(r.name())
                .setState(verdict.state())
                .setStateReason(verdict.reason())
                .setReport(r.report())
                .setLastSeenUnixMs(r.lastSeenUnixMs())
                .setLastSeenAgeMs(Math.max(0, (nowNanos - r.lastSeenNanos()) / 1_000_000))
                .setAgentId(r.agentId())
                .setAgentEndpoint(r.agentEndpoint())
                .setAgentVersion(r.agentVersion())
                .setRegisteredAtUnixMs(r.registeredAtUnixMs())
                .addAllStorageTiers(r.storageTiers())
                .build();
    }

    /** 1-minute load average divided by hardware threads: 1.0 means every thread busy. */
    public static double loadPerThread(Host h) {
        HostResources res = h.getReport().getResources();
        return res.getLogicalThreads() > 0 ? res.getLoadAverage1M() / res.getLogicalThreads() : res.getLoadAverage1M();
    }
}
