package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The host-model CPU read out of libvirt's domain capabilities, and the checks on CPUs a request brings. */
class GuestCpuXmlTest {
    @Test
    void theHostModelOfTheDomainCapabilitiesBecomesAGuestCpuDefinitionWithItsModelVendorAndFeatures() throws IOException {
        String cpu = GuestCpuXml.hostModel(fixture("domcaps-qemu-tcg.xml")).orElseThrow();
        assertTrue(cpu.startsWith("<cpu match=\"exact\" mode=\"custom\">\n  <model fallback=\"forbid\">EPYC</model>\n"
                + "  <vendor>AMD</vendor>\n  <feature name=\"acpi\" policy=\"require\"/>\n"), cpu);
        assertTrue(cpu.contains("<feature name=\"vaes\" policy=\"require\"/>"), cpu);
        assertTrue(cpu.contains("<feature name=\"nrip-save\" policy=\"disable\"/>"), cpu);
        assertEquals(28, cpu.lines().filter(l -> l.contains("<feature ")).count(), "every feature, nothing else: " + cpu);
        assertTrue(!cpu.contains("usable") && !cpu.contains("maximum") && !cpu.contains("qemu64"), "only the host-model: " + cpu);
        assertEquals(cpu, GuestCpuXml.check("cpu_xml", cpu), "what the agent reports is what it accepts back");
    }

    @Test
    void aHypervisorThatOffersNoHostModelHasNone() {
        assertEquals(Optional.empty(), GuestCpuXml.hostModel("<domainCapabilities><cpu>"
                + "<mode name='host-model' supported='no'/></cpu></domainCapabilities>"));
        assertEquals(Optional.empty(), GuestCpuXml.hostModel("<domainCapabilities><path>/usr/bin/x</path></domainCapabilities>"));
    }

    @Test
    void aCpuThatIsNotAGuestCpuDefinitionIsRefusedNamingTheField() {
        InvalidInputException notCpu = assertThrows(InvalidInputException.class,
                () -> GuestCpuXml.check("cpu_xml[1]", "<domain><model>EPYC</model></domain>"));
        assertTrue(notCpu.getMessage().startsWith("cpu_xml[1]: "), notCpu.getMessage());
        assertTrue(notCpu.getMessage().contains("<cpu> with a <model>"), notCpu.getMessage());
        InvalidInputException noModel = assertThrows(InvalidInputException.class,
                () -> GuestCpuXml.check("cpu_xml[0]", "<cpu mode='custom'><vendor>AMD</vendor></cpu>"));
        assertTrue(noModel.getMessage().startsWith("cpu_xml[0]: "), noModel.getMessage());
        InvalidInputException entity = assertThrows(InvalidInputException.class, () -> GuestCpuXml.check("cpu_xml[0]",
                "<!DOCTYPE cpu [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><cpu><model>&x;</model></cpu>"));
        assertTrue(entity.getMessage().contains("without DOCTYPE"), entity.getMessage());
        InvalidInputException huge = assertThrows(InvalidInputException.class, () -> GuestCpuXml.check("cpu_xml[0]",
                "<cpu><model>EPYC</model>" + "<feature policy='require' name='x'/>".repeat(2000) + "</cpu>"));
        assertTrue(huge.getMessage().contains("at most 65536 characters"), huge.getMessage());
    }

    static String fixture(String name) throws IOException {
        try (InputStream in = GuestCpuXmlTest.class.getResourceAsStream("/hypervisor/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
