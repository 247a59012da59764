package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.units.Bytes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SizesTest {
    @ParameterizedTest
    @CsvSource({
        "20G, 21474836480",
        "20g, 21474836480",
        "20GiB, 21474836480",
        "1T, 1099511627776",
        "16T, 17592186044416",
        "16384G, 17592186044416",
        "1024M, 1073741824",
        "1048576K, 1073741824",
        "1073741824, 1073741824",
        "1073741824B, 1073741824",
        "020G, 21474836480",
    })
    void diskSizesInBinaryUnits(String text, long bytes) {
        assertEquals(bytes, Sizes.disk("disk", text));
    }

    @ParameterizedTest
    @CsvSource({"128M, 134217728", "512M, 536870912", "2G, 2147483648", "1T, 1099511627776", "1024G, 1099511627776"})
    void memorySizes(String text, long bytes) {
        assertEquals(bytes, Sizes.memory("memory", text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "G", "0", "0G", "-1G", "+20G", "20 G", " 20G", "20G ", "1.5G", "20X", "20GB", "20Gi",
        "1023M", "17T", "16385G", "1P", "1E", "16E", "99999999999999999999T", "999999999999999999999",
        "0x10G", "20G;reboot", "$(reboot)", "２０G", "20\u0000G"})
    void outOfRangeOrMalformedDiskSizesAreRefused(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Sizes.disk("disk", text));
        assertEquals("disk", e.field());
        assertTrue(e.getMessage().startsWith("disk: " + Escape.quoted(text) + " is not accepted"), e.getMessage());
        assertTrue(e.getMessage().contains("a size from 1 GiB to 16 TiB, e.g. 1G"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"127M", "64M", "1025G", "2T"})
    void memoryOutsideItsBoundsIsRefused(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Sizes.memory("memory", text));
        assertTrue(e.getMessage().contains("a size from 128 MiB to 1 TiB, e.g. 128M"), e.getMessage());
    }

    @Test
    void hugeTextIsRefusedWithAShortMessage() {
        String huge = "9".repeat(10_000) + "G";
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Sizes.disk("disk", huge));
        assertTrue(e.getMessage().length() < 400, e.getMessage());
        assertTrue(e.getMessage().contains("10001 characters"), e.getMessage());
        assertThrows(InvalidInputException.class, () -> Sizes.disk("disk", null));
    }

    @Test
    void boundsAreChosenPerCall() {
        Sizes.Bounds small = new Sizes.Bounds(Bytes.MIB, 10 * Bytes.MIB);
        assertEquals(5 * Bytes.MIB, Sizes.parse("swap", "5M", small));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Sizes.parse("swap", "11M", small));
        assertTrue(e.getMessage().contains("a size from 1 MiB to 10 MiB, e.g. 1M"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Sizes.Bounds(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sizes.Bounds(2, 1));
    }

    @ParameterizedTest
    @ValueSource(longs = {Bytes.GIB, 20 * Bytes.GIB, 16 * Bytes.TIB, Bytes.GIB + 1})
    void byteCountsWithinBoundsAreAccepted(long bytes) {
        assertEquals(bytes, Sizes.diskBytes("spec.disk_bytes", bytes));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, Long.MIN_VALUE, Long.MAX_VALUE, Bytes.GIB - 1, 16 * Bytes.TIB + 1})
    void byteCountsOutsideBoundsAreRefused(long bytes) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Sizes.diskBytes("spec.disk_bytes", bytes));
        assertEquals("spec.disk_bytes: \"" + bytes + "\" is not accepted; expected a byte count from 1073741824 to "
                + "17592186044416 (1 GiB to 16 TiB)", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -134217728, 134217727, Bytes.TIB + 1})
    void memoryByteCountsOutsideBoundsAreRefused(long bytes) {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> Sizes.memoryBytes("spec.memory_bytes", bytes));
        assertTrue(e.getMessage().contains("(128 MiB to 1 TiB)"), e.getMessage());
    }
}
