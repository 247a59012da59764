package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EndpointTest {
    @Test
    void parsesNamesAddressesAndBracketedIpv6() {
        assertEquals(new Endpoint("cp1.example", 7440), Endpoint.parse("controller", "cp1.example:7440"));
        assertEquals(new Endpoint("10.0.0.1", 0), Endpoint.parse("listen", "10.0.0.1:0"));
        Endpoint v6 = Endpoint.parse("listen", "[::1]:7441");
        assertEquals("::1", v6.bareHost());
        assertEquals("[::1]:7441", v6.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "cp1", "cp1:", ":7440", "cp1:70000", "cp1:-1", "cp 1:7440", "::1:7440", "cp1:74a0", "$(x):1"})
    void refusesMalformedAddressesNamingTheField(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Endpoint.parse("controller", text));
        assertTrue(e.getMessage().startsWith("controller: "), e.getMessage());
        assertTrue(e.getMessage().contains("host:port"), e.getMessage());
    }
}
