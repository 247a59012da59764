package io.virtfleet.agent.report;

import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.metrics.HostMetrics;
import io.virtfleet.agent.sync.StandDown;
import io.virtfleet.agent.sync.SyncState;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.HostCpu;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HypervisorInfo;
import io.virtfleet.proto.v1.LibvirtTlsStatus;
import java.util.List;
import java.util.function.Supplier;

/**
 * Assembles a host's report from the OS (OSHI), the latest view of the hypervisor (libvirt) and the state of its
 * replicas' sync. A host on libvirt's test driver reports its simulated node's size instead of the machine's.
 */
public final class HostReporter {
    private final String hostName;
    private final HostMetrics metrics;
    private final HypervisorPoller hypervisor;
    private final Supplier<String> vxlanAddress;
    private final Supplier<SyncState.Status> sync;
    private final String publicAddress;
    private final Supplier<LibvirtTlsStatus> libvirtTls;
    private final Supplier<String> migrationAddress;
    private volatile HostReport latest = HostReport.getDefaultInstance();

    /** A reporter of a host without a libvirt TLS certificate or a migration address (tests). */
    public HostReporter(String hostName, HostMetrics metrics, HypervisorPoller hypervisor, Supplier<String> vxlanAddress,
                        Supplier<SyncState.Status> sync, String publicAddress) {
        this(hostName, metrics, hypervisor, vxlanAddress, sync, publicAddress, LibvirtTlsStatus::getDefaultInstance,
                () -> "");
    }
    private volatile Supplier<HostCpu> cpu = HostCpu::getDefaultInstance;
    private volatile Supplier<List<String>> cephClientAddresses = List::of;
    private volatile Supplier<StandDown.Status> standDown = () -> new StandDown.Status(false, "", "");

    /**
     * @param vxlanAddress gives the host's VXLAN underlay address, empty when it has none
     * @param publicAddress the host's public IPv4 address (the agent's public-address), empty when not set
     * @param sync         gives the outcome of the host's definitions syncs
     * @param libvirtTls   gives the state of the host's libvirt TLS certificate
     * @param migrationAddress gives the address other hosts migrate VMs to this host on, empty when none
     */
    public HostReporter(String hostName, HostMetrics metrics, HypervisorPoller hypervisor, Supplier<String> vxlanAddress,
                        Supplier<SyncState.Status> sync, String publicAddress, Supplier<LibvirtTlsStatus> libvirtTls,
                        Supplier<String> migrationAddress) {
        this.hostName = hostName;
        this.metrics = metrics;
        this.hypervisor = hypervisor;
        this.vxlanAddress = vxlanAddress;
        this.sync = sync;
        this.publicAddress = publicAddress;
        this.libvirtTls = libvirtTls;
        this.migrationAddress = migrationAddress;
    }

    /** This reporter, also reporting the host's CPU for guests as {@code cpu} gives it (never blocking). */
    public HostReporter withCpu(Supplier<HostCpu> cpu) {
        this.cpu = cpu;
        return this;
    }

    /** This reporter, also reporting the addresses the host reaches Ceph from as {@code addresses} gives them (never blocking). */
    public HostReporter withCephClientAddresses(Supplier<List<String>> addresses) {
        this.cephClientAddresses = addresses;
        return this;
    }

    /** This reporter, also reporting whether the host stands down and how far it got, as {@code standDown} gives it. */
    public HostReporter withStandDown(Supplier<StandDown.Status> standDown) {
        this.standDown = standDown;
        return this;
    }

    /** Waits (bounded) until libvirt answered once, so the first report carries real domains. */
    public void awaitHypervisor() throws InterruptedException {
        hypervisor.awaitFirstPoll();
    }

    public synchronized HostReport report() {
        HypervisorPoller.View view = hypervisor.current();
        SyncState.Status synced = sync.get();
        StandDown.Status standing = standDown.get();
        latest = HostReport.newBuilder()
                .setHostName(hostName)
                .setTakenAtUnixMs(System.currentTimeMillis())
                .setResources(forPlacement(metrics.sample(), view.info(), view.domains()))
                .setHypervisor(view.info())
                .addAllDomains(view.domains())
                .setDomainsStale(view.domainsStale())
                .setVxlanAddress(vxlanAddress.get())
                .setSyncedCommit(synced.syncedCommit())
                .setSyncError(synced.error())
                .setPublicAddress(publicAddress)
                .setLibvirtTls(libvirtTls.get())
                .setMigrationAddress(migrationAddress.get())
                .setCpu(cpu.get())
                .addAllCephClientAddresses(cephClientAddresses.get())
                .setStandingDown(standing.standingDown())
                .setStoodDownCommit(standing.stoodDownCommit())
                .setStandDownError(standing.error())
                .build();
        return latest;
    }

    /**
     * A report made once libvirt has been asked again (see {@link HypervisorPoller#pollAsync}); when libvirt did not
     * answer in time its domains are marked stale, as they may predate the call. Never blocks the caller.
     */
    public java.util.concurrent.CompletableFuture<HostReport> freshReport() {
        return hypervisor.pollAsync().thenApply(answered -> withCurrentView(!answered));
    }

    /**
     * The last report with libvirt's current view in it, not a new sample: a sample measures CPU use since the previous
     * one, and the heartbeats' samples must keep their interval. Before the first report, a full one.
     */
    private HostReport withCurrentView(boolean stale) {
        HostReport last = latest;
        if (last.getHostName().isEmpty()) {
            HostReport first = report();
            return stale ? first.toBuilder().setDomainsStale(true).build() : first;
        }
        HypervisorPoller.View view = hypervisor.current();
        return last.toBuilder()
                .setTakenAtUnixMs(System.currentTimeMillis())
                .setHypervisor(view.info())
                .clearDomains()
                .addAllDomains(view.domains())
                .setDomainsStale(stale || view.domainsStale())
                .build();
    }

    /**
     * The report {@link #report()} last made (the default instance before the first): what the host currently tells
     * the controller, read without sampling anything (a sample measures CPU use since the previous one).
     */
    public HostReport lastReport() {
        return latest;
    }

    /**
     * The resources placement weighs. On libvirt's test driver ({@code test://}) the node is simulated at the size
     * its node file gives (the embedded fleet's hosts have 8, 16 and 32 CPUs), while OSHI measures the one machine
     * every simulated host runs on: there the node's CPUs and memory are reported, its memory available being what
     * its running domains leave. Load and CPU model stay measured. A real host reports what OSHI measures.
     */
    static HostResources forPlacement(HostResources measured, HypervisorInfo hypervisor, List<DomainInfo> domains) {
        if (!hypervisor.getUri().startsWith("test:") || hypervisor.getNodeCpus() <= 0
                || hypervisor.getNodeMemoryBytes() <= 0) {
            return measured; // a real host, or a test node libvirt did not describe (not connected yet)
        }
        long used = 0;
        for (DomainInfo d : domains) {
            if (switch (d.getState()) {
                case DOMAIN_STATE_RUNNING, DOMAIN_STATE_BLOCKED, DOMAIN_STATE_PAUSED, DOMAIN_STATE_SHUTTING_DOWN -> true;
                default -> false;
            }) {
                used += Math.max(d.getMemoryBytes(), d.getMaxMemoryBytes());
            }
        }
        long total = hypervisor.getNodeMemoryBytes();
        return measured.toBuilder().setPhysicalCores(hypervisor.getNodeCpus()).setLogicalThreads(hypervisor.getNodeCpus())
                .setMemoryTotalBytes(total).setMemoryAvailableBytes(Math.max(0, total - used)).build();
    }
}
