package io.virtfleet.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Only {@code etc/libvirt/qemu/<vm>.xml} with a valid VM name counts as a definition. */
class DefinitionFilesTest {
    @Test
    void aDefinitionIsAnXmlFileNamedAfterAValidVm() {
        assertEquals(Optional.of("web"), DefinitionFiles.vmName("etc/libvirt/qemu/web.xml"));
        assertEquals(Optional.of("db-1"), DefinitionFiles.vmName("etc/libvirt/qemu/db-1.xml"));
        assertEquals("etc/libvirt/qemu/web.xml", DefinitionFiles.pathOf("web"));
    }

    @Test
    void anythingElseIsNot() {
        for (String path : List.of(
                "etc/libvirt/qemu/../../x.xml", "etc/libvirt/qemu/a b.xml", "etc/libvirt/qemu/Web.xml",
                "etc/libvirt/qemu/networks/default.xml", "etc/libvirt/qemu/web.xml.bak", "etc/libvirt/qemu/.xml",
                "etc/libvirt/qemu/-web.xml", "etc/libvirt/qemu/web.json", "etc/libvirt/qemu/..xml",
                "etc/libvirt/qemu/", "vms/web.json", "web.xml", "etc/libvirt/qemu/w\u00e9b.xml",
                "etc/libvirt/qemu/web\n.xml", "etc/libvirt/qemu/" + "a".repeat(64) + ".xml")) {
            assertEquals(Optional.empty(), DefinitionFiles.vmName(path), path);
        }
        assertTrue(DefinitionFiles.inDirectory("etc/libvirt/qemu/a b.xml"));
        assertThrows(InvalidInputException.class, () -> DefinitionFiles.pathOf("../x"));
    }
}
