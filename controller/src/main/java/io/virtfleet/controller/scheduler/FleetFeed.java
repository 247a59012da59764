package io.virtfleet.controller.scheduler;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.StorageTier;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Turns what agents report into what placement needs, as each report arrives. Addresses are passed on as
 * reported: placement trusts only valid ones ({@code Capabilities}) and says why it refuses the others.
 */
public final class FleetFeed {
    private FleetFeed() {}

    /**
     * @param cpuProblem why the host cannot run the fleet CPU model ("" when it can), as the controller judges it
     *                   from the host's report
     */
    public static HostSnapshot snapshot(HostRecord record, Liveness liveness, long nowNanos, String cpuProblem) {
        return snapshot(record, liveness, nowNanos).withCpuProblem(cpuProblem);
    }

    public static HostSnapshot snapshot(HostRecord record, Liveness liveness, long nowNanos) {
        HostReport report = record.report();
        var res = report.getResources();
        List<HostSnapshot.RunningDomain> running = new ArrayList<>();
        for (DomainInfo d : report.getDomainsList()) {
            if (Domains.active(d.getState())) {
                running.add(new HostSnapshot.RunningDomain(d.getName(), Math.max(d.getMemoryBytes(), d.getMaxMemoryBytes()),
                        d.getVcpus()));
            }
        }
        return new HostSnapshot(record.name(), liveness.judge(record, nowNanos).state(), res.getLogicalThreads(),
                res.getMemoryTotalBytes(), res.getMemoryAvailableBytes(), res.getLoadAverage1M(),
                tiers(record.storageTiers()), res.getImagesFreeBytes(), res.getImagesTotalBytes(), running,
                !res.getInstallerKernel().isEmpty() && !res.getInstallerInitrd().isEmpty(), report.getVxlanAddress(),
                report.getPublicAddress());
    }

    /**
     * The public IPv4 address a host reports, if it is one: a failover-IP VM's gateway is derived from it, so
     * a private, loopback, link-local or multicast value (which its agent would have refused) is not trusted.
     */
    public static Optional<Ipv4> publicAddress(HostReport report) {
        try {
            return report.getPublicAddress().isEmpty() ? Optional.empty()
                    : Optional.of(Ipv4.publicAddress("public_address", report.getPublicAddress()));
        } catch (InvalidInputException e) {
            return Optional.empty();
        }
    }

    static Set<StorageTier> tiers(List<String> names) {
        Set<StorageTier> out = EnumSet.noneOf(StorageTier.class);
        for (String n : names) {
            switch (n) {
                case "ssd" -> out.add(StorageTier.STORAGE_TIER_SSD);
                case "sata" -> out.add(StorageTier.STORAGE_TIER_SATA);
                case "raw" -> out.add(StorageTier.STORAGE_TIER_RAW);
                default -> { }
            }
        }
        return out;
    }
}
