package io.virtfleet.agent.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.metrics.HostMetrics;
import io.virtfleet.agent.sync.SyncState;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HypervisorInfo;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which size a host reports for placement (the measured machine's, or a simulated node's), and its addresses. */
class HostReporterTest {
    private static final long GIB = 1L << 30;
    private static final HostResources MEASURED = HostResources.newBuilder().setCpuModel("measured").setPhysicalCores(2)
            .setLogicalThreads(4).setMemoryTotalBytes(24 * GIB).setMemoryAvailableBytes(20 * GIB).setLoadAverage1M(0.5).build();
    private static final List<DomainInfo> DOMAINS = List.of(
            DomainInfo.newBuilder().setName("a").setState(DomainState.DOMAIN_STATE_RUNNING).setMaxMemoryBytes(2 * GIB)
                    .setMemoryBytes(2 * GIB).build(),
            DomainInfo.newBuilder().setName("b").setState(DomainState.DOMAIN_STATE_SHUTOFF).setMaxMemoryBytes(8 * GIB).build());

    @Test
    void aTestDriverHostReportsItsNodesSizeLessWhatItsRunningDomainsUse() {
        HypervisorInfo node = HypervisorInfo.newBuilder().setUri("test:///var/lib/virtfleet/nodes/hv3.xml").setNodeCpus(32)
                .setNodeMemoryBytes(128 * GIB).build();
        HostResources r = HostReporter.forPlacement(MEASURED, node, DOMAINS);
        assertEquals(32, r.getLogicalThreads());
        assertEquals(32, r.getPhysicalCores());
        assertEquals(128 * GIB, r.getMemoryTotalBytes());
        assertEquals(126 * GIB, r.getMemoryAvailableBytes(), "the shut-off domain uses nothing");
        assertEquals("measured", r.getCpuModel());
        assertEquals(0.5, r.getLoadAverage1M());
    }

    @Test
    void aRealHostReportsWhatIsMeasured() {
        HypervisorInfo qemu = HypervisorInfo.newBuilder().setUri("qemu:///system").setNodeCpus(32)
                .setNodeMemoryBytes(128 * GIB).build();
        assertEquals(MEASURED, HostReporter.forPlacement(MEASURED, qemu, DOMAINS));
    }

    @Test
    void aTestDriverHostNotConnectedYetReportsWhatIsMeasured() {
        HypervisorInfo notYet = HypervisorInfo.newBuilder().setUri("test:///var/lib/virtfleet/nodes/hv1.xml")
                .setError("libvirt at test:///var/lib/virtfleet/nodes/hv1.xml: not asked yet").build();
        assertEquals(MEASURED, HostReporter.forPlacement(MEASURED, notYet, List.of()));
    }

    @Test
    void theReportCarriesTheAddressOtherHostsMigrateVmsTo(@TempDir Path images) throws Exception {
        try (LibvirtHypervisor libvirt = new LibvirtHypervisor("test:///default");
             HypervisorPoller poller = new HypervisorPoller(libvirt, Duration.ofSeconds(1), Duration.ofSeconds(5)).start()) {
            SyncState.Status synced = new SyncState.Status("", "");
            String[] address = {"10.0.0.9"};
            HostReporter migrating = new HostReporter("hv1", new HostMetrics(images), poller, () -> "10.0.0.5",
                    () -> synced, "", io.virtfleet.proto.v1.LibvirtTlsStatus::getDefaultInstance, () -> address[0]);
            assertEquals("10.0.0.9", migrating.report().getMigrationAddress());
            assertEquals("10.0.0.5", migrating.report().getVxlanAddress());
            address[0] = "10.0.0.10";
            assertEquals("10.0.0.10", migrating.report().getMigrationAddress(), "asked at each report");
            HostReporter notMigrating = new HostReporter("hv1", new HostMetrics(images), poller, () -> "", () -> synced, "");
            assertEquals("", notMigrating.report().getMigrationAddress());
        }
    }

    @Test
    void theReportCarriesTheAddressesTheHostReachesCephFrom(@TempDir Path images) throws Exception {
        try (LibvirtHypervisor libvirt = new LibvirtHypervisor("test:///default");
             HypervisorPoller poller = new HypervisorPoller(libvirt, Duration.ofSeconds(1), Duration.ofSeconds(5)).start()) {
            SyncState.Status synced = new SyncState.Status("", "");
            Path conf = images.resolve("ceph.conf");
            java.nio.file.Files.writeString(conf, "[global]\nmon_host = [v2:127.0.0.7:3300/0,v1:127.0.0.7:6789/0],[::1]:6789\n");
            io.virtfleet.agent.storage.CephSettings ceph = new io.virtfleet.agent.storage.CephSettings(conf, "libvirt",
                    images.resolve("keyring"), "ssd", "sata", Duration.ofSeconds(5));
            HostReporter reporter = new HostReporter("hv1", new HostMetrics(images), poller, () -> "", () -> synced, "")
                    .withCephClientAddresses(new io.virtfleet.agent.storage.CephClientAddresses(
                            ceph.withClientAddresses(List.of("fd00::5", "10.0.0.5")), Runnable::run)::current);
            assertEquals(List.of("10.0.0.5", "fd00:0:0:0:0:0:0:5"), reporter.report().getCephClientAddressesList());
            assertEquals(List.of(), new HostReporter("hv1", new HostMetrics(images), poller, () -> "", () -> synced, "")
                    .report().getCephClientAddressesList(), "a host without Ceph reports none");
        }
    }

    @Test
    void aFreshReportHasLibvirtAskedAgainFirst(@TempDir Path images) throws Exception {
        try (LibvirtHypervisor libvirt = new LibvirtHypervisor("test:///default");
             HypervisorPoller poller = new HypervisorPoller(libvirt, Duration.ofHours(1), Duration.ofSeconds(10)).start()) {
            poller.awaitFirstPoll();
            SyncState.Status synced = new SyncState.Status("", "");
            HostReporter reporter = new HostReporter("hv1", new HostMetrics(images), poller, () -> "", () -> synced, "");
            org.libvirt.Connect other = new org.libvirt.Connect("test:///default");
            try {
                other.domainDefineXML("<domain type='test'><name>fresh1</name><memory unit='MiB'>64</memory>"
                        + "<os><type>hvm</type></os></domain>");
                assertFalse(names(reporter.report()).contains("fresh1"), "the hourly poll has not seen it yet");
                assertTrue(names(reporter.freshReport().get(30, java.util.concurrent.TimeUnit.SECONDS)).contains("fresh1"),
                        "a fresh report has");
            } finally {
                other.domainLookupByName("fresh1").undefine();
                other.close();
            }
        }
    }

    private static List<String> names(io.virtfleet.proto.v1.HostReport report) {
        return report.getDomainsList().stream().map(DomainInfo::getName).toList();
    }
}
