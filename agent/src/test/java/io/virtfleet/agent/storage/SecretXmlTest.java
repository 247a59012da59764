package io.virtfleet.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The libvirt secret the agent defines, and how it reads libvirt's description of one. */
class SecretXmlTest {
    @Test
    void secretXmlIsPersistentPrivateCephUsageAndHostileXmlIsNotParsed() {
        String xml = SecretXml.ceph("client.libvirt secret", null);
        assertTrue(xml.startsWith("<secret ephemeral=\"no\" private=\"yes\">"), xml);
        assertTrue(xml.contains("<usage type=\"ceph\"><name>client.libvirt secret</name></usage>"), xml);
        assertEquals(new SecretXml.Flags(false, true), SecretXml.flags(xml));
        assertEquals(new SecretXml.Flags(true, false), SecretXml.flags("<secret ephemeral='yes' private='no'/>"));

        StorageException e = assertThrows(StorageException.class, () -> SecretXml.flags(
                "<!DOCTYPE secret [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><secret private='yes'>&e;</secret>"));
        assertTrue(e.getMessage().contains("DOCTYPE"), e.getMessage());
    }
}
