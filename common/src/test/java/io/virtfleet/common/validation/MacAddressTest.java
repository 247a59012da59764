package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class MacAddressTest {
    @ParameterizedTest
    @CsvSource({
        "02:00:00:ab:cd:ef, 02:00:00:ab:cd:ef, true",
        "02:00:00:AB:CD:EF, 02:00:00:ab:cd:ef, true",
        "00:50:56:00:12:34, 00:50:56:00:12:34, false",
        "fe:ff:ff:ff:ff:ff, fe:ff:ff:ff:ff:ff, true",
        "00:00:00:00:00:01, 00:00:00:00:00:01, false",
    })
    void unicastAddressesAreNormalisedToLowercase(String text, String normalised, boolean local) {
        MacAddress mac = MacAddress.parse("mac", text);
        assertEquals(normalised, mac.text());
        assertEquals(normalised, mac.toString());
        assertEquals(local, mac.locallyAdministered());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "02:00:00:ab:cd", "02:00:00:ab:cd:ef:01", "02-00-00-ab-cd-ef", "0200.00ab.cdef",
        "020000abcdef", "02:00:00:ab:cd:eg", "2:0:0:ab:cd:ef", " 02:00:00:ab:cd:ef", "02:00:00:ab:cd:ef\n",
        "02:00:00:ab:cd:éf", "$(reboot)"})
    void malformedAddressesAreRefused(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MacAddress.parse("spec.network.failover.mac", text));
        assertEquals("spec.network.failover.mac", e.field());
        assertTrue(e.getMessage().contains("expected a MAC address xx:xx:xx:xx:xx:xx of hex digits"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01", "03:00:00:00:00:00"})
    void multicastAndBroadcastAreRefused(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MacAddress.parse("mac", text));
        assertTrue(e.getMessage().contains("a unicast MAC address"), e.getMessage());
    }

    @Test
    void theAllZeroAddressIsRefused() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MacAddress.parse("mac", "00:00:00:00:00:00"));
        assertEquals("mac: \"00:00:00:00:00:00\" is not accepted; expected a MAC address other than 00:00:00:00:00:00",
                e.getMessage());
        assertThrows(InvalidInputException.class, () -> MacAddress.parse("mac", null));
    }

    @Test
    void equalityIgnoresTheCaseItWasWrittenIn() {
        assertEquals(MacAddress.parse("a", "02:AA:00:00:00:01"), MacAddress.parse("b", "02:aa:00:00:00:01"));
        assertFalse(MacAddress.parse("a", "02:aa:00:00:00:01").equals(MacAddress.parse("a", "02:aa:00:00:00:02")));
    }
}
