package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VCpusTest {
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 64, 256})
    void countsFromOneTo256(int n) {
        assertEquals(n, VCpus.count("spec.vcpus", n));
        assertEquals(n, VCpus.parse("--vcpus", Integer.toString(n)));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, 257, Integer.MAX_VALUE, Integer.MIN_VALUE, Long.MAX_VALUE})
    void otherCountsAreRefused(long n) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VCpus.count("spec.vcpus", n));
        assertEquals("spec.vcpus: \"" + n + "\" is not accepted; expected a whole number of virtual CPUs from 1 to 256",
                e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "0", "257", "-1", "+4", "4 ", "four", "1e2", "4.0", "99999999999", "٤"})
    void malformedTextIsRefused(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VCpus.parse("--vcpus", text));
        assertEquals("--vcpus", e.field());
    }
}
