package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VxlanTest {
    @ParameterizedTest
    @ValueSource(ints = {1, 42, 4096, 16_777_215})
    void numbersOf24Bits(int vni) {
        assertEquals(vni, Vxlan.id("lan", vni));
        assertEquals(vni, Vxlan.fromUint32("spec.network.lan", vni));
        assertEquals(vni, Vxlan.parse("--lan", Integer.toString(vni)));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, 16_777_216, 4_294_967_295L, Long.MIN_VALUE})
    void othersAreRefused(long vni) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Vxlan.id("spec.network.lan", vni));
        assertEquals("spec.network.lan: \"" + vni + "\" is not accepted; expected a VXLAN number from 1 to 16777215",
                e.getMessage());
    }

    @Test
    void uint32ValuesAboveIntMaxAreReadUnsigned() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Vxlan.fromUint32("lan", -1));
        assertTrue(e.getMessage().startsWith("lan: \"4294967295\""), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "0", "042", "16777216", "-5", "1 ", "0x10", "123456789"})
    void malformedTextIsRefused(String text) {
        assertEquals("--lan", assertThrows(InvalidInputException.class, () -> Vxlan.parse("--lan", text)).field());
    }
}
