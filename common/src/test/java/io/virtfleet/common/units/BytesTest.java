package io.virtfleet.common.units;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link Bytes#human} writes what {@code %.1f} writes, without the formatter. */
class BytesTest {
    @Test
    void unitsAndTheirBoundaries() {
        assertEquals("?", Bytes.human(-1));
        assertEquals("0 B", Bytes.human(0));
        assertEquals("1023 B", Bytes.human(1023));
        assertEquals("1 KiB", Bytes.human(Bytes.KIB));
        assertEquals("1023 MiB", Bytes.human(Bytes.GIB - 1));
        assertEquals("1.0 GiB", Bytes.human(Bytes.GIB));
        assertEquals("15.6 GiB", Bytes.human(15 * Bytes.GIB + 6 * Bytes.GIB / 10 + Bytes.MIB));
        assertEquals("1024.0 GiB", Bytes.human(Bytes.TIB - 1));
        assertEquals("1.0 TiB", Bytes.human(Bytes.TIB));
        // Either side of 1.05 GiB (1,127,428,915.2 bytes: not a whole count).
        assertEquals("1.0 GiB", Bytes.human(1_127_428_915L));
        assertEquals("1.1 GiB", Bytes.human(1_127_428_916L));
        // Exactly halfway between two tenths (quarters of a unit are whole counts): rounded up, as %.1f rounds.
        assertEquals("1.3 GiB", Bytes.human(5 * Bytes.GIB / 4));
        assertEquals("1.2 GiB", Bytes.human(5 * Bytes.GIB / 4 - 1));
        assertEquals("1.8 GiB", Bytes.human(7 * Bytes.GIB / 4));
        assertEquals("1023.8 GiB", Bytes.human(Bytes.TIB - Bytes.GIB / 4));
        assertEquals("2.3 TiB", Bytes.human(9 * Bytes.TIB / 4));
        assertEquals("8388608.0 TiB", Bytes.human(Long.MAX_VALUE));
    }

    @Test
    void theSameTextAsTheFormatterForAnyCount() {
        Random rnd = new Random(5);
        for (int i = 0; i < 200_000; i++) {
            // Counts below 2^53: a double holds them, and their quotient by a power of two, exactly.
            long bytes = rnd.nextLong() >>> (11 + rnd.nextInt(40));
            if (i % 4 == 0) {
                bytes = (bytes / (Bytes.GIB / 20)) * (Bytes.GIB / 20) + rnd.nextInt(3) - 1; // near a tenth or a half
            }
            String expected = bytes < Bytes.GIB ? null
                    : bytes < Bytes.TIB ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) Bytes.GIB)
                    : String.format(Locale.ROOT, "%.1f TiB", bytes / (double) Bytes.TIB);
            if (expected != null) {
                assertEquals(expected, Bytes.human(bytes), "for " + bytes + " bytes");
            }
        }
    }
}
