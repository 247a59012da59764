package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class InterfaceNamesTest {
    @ParameterizedTest
    @ValueSource(strings = {"eth0", "eno1", "enp3s0f1", "bond0.100", "br0", "br-public", "vmbr_0", "abcdefghijklmno"})
    void namesInterfacesReallyHaveAreAccepted(String name) {
        assertEquals(name, InterfaceNames.check("vxlan-device", name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-eth0", ".", "..", "../eth0", "eth0/1", "eth 0", "eth0;reboot", "abcdefghijklmnop",
        "eth0\n", "ethé", "$(reboot)"})
    void namesAToolCouldMisreadAreRefused(String name) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> InterfaceNames.check("public-bridge", name));
        assertEquals("public-bridge", e.field());
        assertTrue(e.getMessage().contains("a network interface name of 1-15 characters"), e.getMessage());
    }
}
