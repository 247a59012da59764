package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import org.junit.jupiter.api.Test;

/** The agent's libvirt connection against libvirt's built-in test driver. */
class LibvirtHypervisorTest {
    @Test
    void reportsTheDefaultTestNodeAndItsDomain() {
        try (LibvirtHypervisor hv = new LibvirtHypervisor("test:///default")) {
            HypervisorSnapshot s = hv.snapshot();
            assertTrue(s.healthy(), s.info().getError());
            assertEquals("TEST", s.info().getType());
            assertTrue(s.info().getLibvirtVersion().matches("\\d+\\.\\d+\\.\\d+"), s.info().getLibvirtVersion());
            DomainInfo test = s.domains().stream().filter(d -> d.getName().equals("test")).findFirst().orElseThrow();
            assertEquals(DomainState.DOMAIN_STATE_RUNNING, test.getState());
            assertTrue(test.getVcpus() > 0 && test.getMaxMemoryBytes() > 0);
            assertEquals(36, test.getUuid().length());
        }
    }

    @Test
    void unreachableLibvirtIsReportedWithUriAndReasonWithoutThrowing() {
        String uri = "qemu:///system?socket=/nonexistent/virtfleet/libvirt-sock";
        try (LibvirtHypervisor hv = new LibvirtHypervisor(uri)) {
            for (int i = 0; i < 3; i++) { // retried on every snapshot
                HypervisorSnapshot s = hv.snapshot();
                assertFalse(s.healthy());
                assertTrue(s.info().getError().startsWith("libvirt at " + uri + ": "), s.info().getError());
                assertTrue(s.info().getError().length() > ("libvirt at " + uri + ": ").length(), "carries libvirt's message");
                assertTrue(s.domains().isEmpty());
            }
        }
    }

    @Test
    void versionsAreDecodedFromLibvirtsEncoding() {
        assertEquals("9.0.0", LibvirtHypervisor.versionText(9_000_000));
        assertEquals("7.2.13", LibvirtHypervisor.versionText(7_002_013));
    }
}
