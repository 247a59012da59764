package io.virtfleet.controller.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Guest CPU definitions as libvirt writes them, read, checked and written back as the repository keeps them. */
class CpuModelTest {
    @Test
    void libvirtsBaselineIsReadWithItsModelVendorAndEveryFeatureAndWrittenBackTheSameEachTime() throws IOException {
        CpuModel m = CpuModel.parse("baseline", fixture());
        assertEquals("EPYC", m.model());
        assertEquals("AMD", m.vendor());
        assertEquals(27, m.features().size());
        assertEquals(new CpuModel.Feature("require", "acpi"), m.features().get(0));
        assertEquals(new CpuModel.Feature("disable", "nrip-save"), m.features().get(26));
        assertEquals("EPYC (AMD), 17 features required, 10 disabled", m.summary());
        String xml = m.xml();
        assertTrue(xml.startsWith("<cpu match=\"exact\" mode=\"custom\">\n  <model fallback=\"forbid\">EPYC</model>\n"
                + "  <vendor>AMD</vendor>\n  <feature name=\"acpi\" policy=\"require\"/>\n"), xml);
        assertEquals(m, CpuModel.parse("stored", xml), "what is stored reads back as the same model");
        assertEquals(xml, CpuModel.parse("stored", xml).xml(), "and writes the same bytes: the fingerprint hosts report");
        assertEquals(Sha256.hex(xml), m.sha256());
    }

    @Test
    void anythingButAModelVendorAndFeaturesIsRefusedNamingWhere() {
        InvalidInputException other = assertThrows(InvalidInputException.class, () -> CpuModel.parse("fleet/cpu-model.xml",
                "<cpu><model>EPYC</model><topology sockets='1'/></cpu>"));
        assertEquals("fleet/cpu-model.xml: \"<topology>\" is not accepted; expected only <model>, <vendor> and <feature> in a"
                + " guest CPU definition", other.getMessage());
        InvalidInputException noModel = assertThrows(InvalidInputException.class, () -> CpuModel.parse("f",
                "<cpu><vendor>AMD</vendor></cpu>"));
        assertTrue(noModel.getMessage().endsWith("expected a guest CPU definition with a <model>"), noModel.getMessage());
        InvalidInputException policy = assertThrows(InvalidInputException.class, () -> CpuModel.parse("f",
                "<cpu><model>EPYC</model><feature policy='maybe' name='aes'/></cpu>"));
        assertTrue(policy.getMessage().startsWith("f/feature/@policy: \"maybe\" is not accepted"), policy.getMessage());
        InvalidInputException name = assertThrows(InvalidInputException.class, () -> CpuModel.parse("f",
                "<cpu><model>EPYC</model><feature policy='require' name='a b'/></cpu>"));
        assertTrue(name.getMessage().startsWith("f/feature/@name: \"a b\" is not accepted"), name.getMessage());
        InvalidInputException notCpu = assertThrows(InvalidInputException.class, () -> CpuModel.parse("f",
                "<domain><model>EPYC</model></domain>"));
        assertTrue(notCpu.getMessage().contains("a guest CPU definition, <cpu>"), notCpu.getMessage());
        InvalidInputException namespaced = assertThrows(InvalidInputException.class, () -> CpuModel.parse("f",
                "<cpu xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'><model>EPYC</model><q:commandline/></cpu>"));
        assertTrue(namespaced.getMessage().contains("{http://libvirt.org/schemas/domain/qemu/1.0}commandline"),
                namespaced.getMessage());
    }

    @Test
    void aFeatureWithoutPolicyIsRequiredAsLibvirtReadsIt() {
        CpuModel m = CpuModel.parse("f", "<cpu><model>Skylake-Server-IBRS</model><feature name='sse4.1'/></cpu>");
        assertEquals("Skylake-Server-IBRS, 1 features required, 0 disabled", m.summary());
        assertEquals("require", m.features().get(0).policy());
    }

    static String fixture() throws IOException {
        try (InputStream in = CpuModelTest.class.getResourceAsStream("/cpu/baseline-epyc-tcg.xml")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
