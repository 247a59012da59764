package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.HostCpu;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A host on libvirt's test driver (the embedded fleet's): libvirt there has neither domain capabilities nor CPU
 * baselines, so the host reports its CPU as unknown with libvirt's reason, and refuses baselines as a precondition.
 * Real libvirtd answers are checked in the controller's {@code FleetCpuModelTest}.
 */
class HostCpusTestDriverTest {
    @TempDir
    Path definitions;

    @Test
    void aTestDriverHostReportsItsCpuAsUnknownWithLibvirtsReasonAndJudgesNoModel() throws Exception {
        Files.createDirectories(definitions.resolve("fleet"));
        Files.writeString(definitions.resolve(HostCpus.MODEL_FILE), "<cpu mode='custom' match='exact'><model>EPYC</model></cpu>");
        try (LibvirtHypervisor hv = new LibvirtHypervisor("test:///default")) {
            HostCpus cpus = new HostCpus(hv, definitions);
            assertTrue(cpus.current().getError().contains("not asked yet"), cpus.current().toString());
            assertTrue(hv.snapshot().healthy());
            cpus.afterPoll(true);
            HostCpu cpu = cpus.current();
            assertEquals("", cpu.getHostModelXml());
            assertEquals("", cpu.getFleetModelSha256(), "no verdict without libvirt's: " + cpu);
            assertTrue(cpu.getError().startsWith("libvirt at test:///default has no domain capabilities of guest CPUs: "),
                    cpu.getError());
            assertTrue(cpu.getError().contains("virConnectGetDomainCapabilities"), "libvirt's own words: " + cpu.getError());
            cpus.afterPoll(true);
            assertSame(cpu, cpus.current(), "a driver without the call is not asked again at every poll");

            DomainOperationException refused = assertThrows(DomainOperationException.class,
                    () -> cpus.baseline(List.of("<cpu><model>EPYC</model></cpu>")));
            assertEquals(DomainOperationException.Reason.WRONG_STATE, refused.reason());
            assertTrue(refused.getMessage().contains("virConnectBaselineHypervisorCPU"), refused.getMessage());
        }
    }

    @Test
    void aBaselineRequestIsCheckedBeforeLibvirtIsAskedAndUnreachableLibvirtIsAskedAgain() {
        try (LibvirtHypervisor hv = new LibvirtHypervisor("qemu:///system?socket=/nonexistent/virtfleet/libvirt-sock")) {
            HostCpus cpus = new HostCpus(hv, definitions);
            assertTrue(assertThrows(InvalidInputException.class, () -> cpus.baseline(List.of())).getMessage()
                    .contains("1 to 4096 guest CPU definitions"));
            assertTrue(assertThrows(InvalidInputException.class, () -> cpus.baseline(List.of("<cpu><model>A</model></cpu>",
                    "<cpu/>"))).getMessage().startsWith("cpu_xml[1]: "));
            DomainOperationException down = assertThrows(DomainOperationException.class,
                    () -> cpus.baseline(List.of("<cpu><model>A</model></cpu>")));
            assertEquals(DomainOperationException.Reason.UNAVAILABLE, down.reason(), down.getMessage());

            cpus.afterPoll(true);
            HostCpu unreachable = cpus.current();
            assertTrue(unreachable.getError().startsWith("libvirt at " + hv.uri() + " is not reachable: "), unreachable.getError());
            cpus.afterPoll(true);
            assertNotSame(unreachable, cpus.current(), "libvirt out of reach: asked again after the next poll");
        }
    }
}
