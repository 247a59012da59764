package io.virtfleet.controller.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FuzzSeedTest {
    @Test
    void theSeedIsFixedUnlessAnotherIsAskedFor() {
        assertEquals(FuzzSeed.FIXED, FuzzSeed.choose(null));
        assertEquals(FuzzSeed.FIXED, FuzzSeed.choose(""));
        assertEquals("-42", FuzzSeed.choose(" -42 "));
    }

    @Test
    void randomDrawsANewSeedEachTime() {
        String first = FuzzSeed.choose("random");
        Long.parseLong(first);
        assertNotEquals(first, FuzzSeed.choose("random"));
    }

    @Test
    void anythingElseIsRefusedNamingTheProperty() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FuzzSeed.choose("0x1f"));
        assertTrue(e.getMessage().contains("virtfleet.fuzz.seed: '0x1f' is not accepted"), e.getMessage());
    }
}
