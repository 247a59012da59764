package io.virtfleet.common.validation;

import io.virtfleet.common.units.Bytes;
import java.math.BigInteger;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Disk and memory sizes, as operators write them ("20G", "512M", "1T") and as byte counts arriving in
 * int64 fields. Units are binary and case-insensitive, as qemu-img reads them: K = 1024, M = 1024 K, and
 * so on up to E; no unit means bytes, "B" too. Only whole numbers: "1.5G" is written "1536M".
 */
public final class Sizes {
    /** An inclusive range of byte counts. */
    public record Bounds(long min, long max) {
        public Bounds {
            if (min < 1 || max < min) {
                throw new IllegalArgumentException("bounds need 1 <= min <= max, got " + min + ".." + max);
            }
        }

        public boolean contains(long bytes) {
            return bytes >= min && bytes <= max;
        }

        @Override
        public String toString() {
            return exact(min) + " to " + exact(max);
        }
    }

    /** A VM disk: 1 GiB to 16 TiB. */
    public static final Bounds DISK = new Bounds(Bytes.GIB, 16 * Bytes.TIB);
    /** VM memory: 128 MiB to 1 TiB. */
    public static final Bounds MEMORY = new Bounds(128 * Bytes.MIB, Bytes.TIB);

    private static final int MAX_TEXT = 32;
    private static final Pattern TEXT = Pattern.compile("([0-9]{1,20})(?:([KMGTPE])(?:iB)?|B)?", Pattern.CASE_INSENSITIVE);
    private static final String UNITS = "KMGTPE";
    private static final String SYNTAX = "a whole number with a unit K, M, G, T (powers of 1024) or none for bytes";

    private Sizes() {}

    /** A disk size written as text, within {@link #DISK}. */
    public static long disk(String field, String text) {
        return parse(field, text, DISK);
    }

    /** A memory size written as text, within {@link #MEMORY}. */
    public static long memory(String field, String text) {
        return parse(field, text, MEMORY);
    }

    /** A disk size in bytes (an int64 field), within {@link #DISK}. */
    public static long diskBytes(String field, long bytes) {
        return bytes(field, bytes, DISK);
    }

    /** A memory size in bytes (an int64 field), within {@link #MEMORY}. */
    public static long memoryBytes(String field, long bytes) {
        return bytes(field, bytes, MEMORY);
    }

    /** Parses "20G"-style text into bytes and checks it lies within {@code bounds}. */
    public static long parse(String field, String text, Bounds bounds) {
        String accepted = "a size from " + bounds + ", e.g. " + example(bounds) + " (" + SYNTAX + ")";
        if (text == null || text.length() > MAX_TEXT) {
            throw new InvalidInputException(field, text, accepted);
        }
        Matcher m = TEXT.matcher(text);
        if (!m.matches()) {
            throw new InvalidInputException(field, text, accepted);
        }
        int power = m.group(2) == null ? 0 : UNITS.indexOf(m.group(2).toUpperCase(Locale.ROOT)) + 1;
        BigInteger bytes = new BigInteger(m.group(1)).shiftLeft(10 * power); // exact: no overflow to wrap around
        if (bytes.compareTo(BigInteger.valueOf(bounds.min())) < 0 || bytes.compareTo(BigInteger.valueOf(bounds.max())) > 0) {
            throw new InvalidInputException(field, text, accepted);
        }
        return bytes.longValueExact();
    }

    /** Checks a byte count lies within {@code bounds}. */
    public static long bytes(String field, long bytes, Bounds bounds) {
        if (!bounds.contains(bytes)) {
            throw new InvalidInputException(field, Long.toString(bytes),
                    "a byte count from " + bounds.min() + " to " + bounds.max() + " (" + bounds + ")");
        }
        return bytes;
    }

    /** "128 MiB", "16 TiB": the largest binary unit that divides the count exactly. */
    public static String exact(long bytes) {
        String[] names = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        int unit = 0;
        long n = bytes;
        while (unit < names.length - 1 && n != 0 && n % 1024 == 0) {
            n /= 1024;
            unit++;
        }
        return n + " " + names[unit];
    }

    private static String example(Bounds bounds) {
        String min = exact(bounds.min());
        int space = min.indexOf(' ');
        String unit = min.substring(space + 1);
        return unit.equals("B") ? Long.toString(bounds.min()) : min.substring(0, space) + unit.charAt(0);
    }
}
