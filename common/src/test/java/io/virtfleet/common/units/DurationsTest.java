package io.virtfleet.common.units;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationsTest {
    @Test
    void parsesOperatorUnits() {
        assertEquals(Duration.ofMillis(500), Durations.parse("500ms"));
        assertEquals(Duration.ofSeconds(5), Durations.parse("5s"));
        assertEquals(Duration.ofMinutes(2), Durations.parse("2m"));
        assertEquals(Duration.ofHours(1), Durations.parse("1h"));
        assertEquals(Duration.ofDays(30), Durations.parse("30d"));
    }

    @Test
    void refusesOtherText() {
        for (String bad : new String[] {"5", "s", "5 s", "-5s", "5w", "1.5s", ""}) {
            assertThrows(IllegalArgumentException.class, () -> Durations.parse(bad), bad);
        }
    }

    @Test
    void rendersShortly() {
        assertEquals("800ms", Durations.shortText(Duration.ofMillis(800)));
        assertEquals("12s", Durations.shortText(Duration.ofSeconds(12)));
        assertEquals("3m", Durations.shortText(Duration.ofMinutes(3)));
        assertEquals("4d", Durations.shortText(Duration.ofDays(4)));
    }

    @Test
    void bytesInBinaryUnits() {
        assertEquals("512 MiB", Bytes.human(512 * Bytes.MIB));
        assertEquals("15.5 GiB", Bytes.human(15 * Bytes.GIB + 512 * Bytes.MIB));
        assertEquals("?", Bytes.human(-1));
    }
}
