package io.virtfleet.agent.report;

import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.metrics.HostMetrics;
import io.virtfleet.agent.sync.SyncState;
import io.virtfleet.proto.v1.HostReport;
import java.util.function.Supplier;

/**
 * Assembles a host's report from the OS (OSHI), the latest view of the hypervisor (libvirt) and the state of its
 * replicas' sync.
 */
public final class HostReporter {
    private final String hostName;
    private final HostMetrics metrics;
    private final HypervisorPoller hypervisor;
    private final Supplier<String> vxlanAddress;
    private final Supplier<SyncState.Status> sync;
    private final String publicAddress;

    /**
     * @param vxlanAddress gives the host's VXLAN underlay address, empty when it has none
     * @param publicAddress the host's public IPv4 address (the agent's public-address), empty when not set
     * @param sync         gives the outcome of the host's definitions syncs
     */
    public HostReporter(String hostName, HostMetrics metrics, HypervisorPoller hypervisor, Supplier<String> vxlanAddress,
                        Supplier<SyncState.Status> sync, String publicAddress) {
        this.hostName = hostName;
        this.metrics = metrics;
        this.hypervisor = hypervisor;
        this.vxlanAddress = vxlanAddress;
        this.sync = sync;
        this.publicAddress = publicAddress;
    }

    /** Waits (bounded) until libvirt answered once, so the first report carries real domains. */
    public void awaitHypervisor() throws InterruptedException {
        hypervisor.awaitFirstPoll();
    }

    public synchronized HostReport report() {
        HypervisorPoller.View view = hypervisor.current();
        SyncState.Status synced = sync.get();
        return HostReport.newBuilder()
                .setHostName(hostName)
                .setTakenAtUnixMs(System.currentTimeMillis())
                .setResources(metrics.sample())
                .setHypervisor(view.info())
                .addAllDomains(view.domains())
                .setDomainsStale(view.domainsStale())
                .setVxlanAddress(vxlanAddress.get())
                .setSyncedCommit(synced.syncedCommit())
                .setSyncError(synced.error())
                .setPublicAddress(publicAddress)
                .build();
    }
}
