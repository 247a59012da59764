package io.virtfleet.agent.report;

import io.virtfleet.agent.hypervisor.HypervisorSnapshot;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.metrics.HostMetrics;
import io.virtfleet.proto.v1.HostReport;

/** Assembles a host's report from the OS (OSHI) and the hypervisor (libvirt). */
public final class HostReporter {
    private final String hostName;
    private final HostMetrics metrics;
    private final LibvirtHypervisor hypervisor;

    public HostReporter(String hostName, HostMetrics metrics, LibvirtHypervisor hypervisor) {
        this.hostName = hostName;
        this.metrics = metrics;
        this.hypervisor = hypervisor;
    }

    public synchronized HostReport report() {
        HypervisorSnapshot snapshot = hypervisor.snapshot();
        return HostReport.newBuilder()
                .setHostName(hostName)
                .setTakenAtUnixMs(System.currentTimeMillis())
                .setResources(metrics.sample())
                .setHypervisor(snapshot.info())
                .addAllDomains(snapshot.domains())
                .build();
    }
}
