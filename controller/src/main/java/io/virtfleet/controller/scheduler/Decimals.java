package io.virtfleet.controller.scheduler;

import java.util.Locale;

/**
 * Writes a number with a fixed count of decimals, as {@code %.Nf} does, for the score in every decision's
 * verdict: {@link java.util.Formatter} took about 2 µs for a verdict's four numbers, a third of a decision.
 */
final class Decimals {
    private Decimals() {}

    private static final long[] SCALE = {1, 10, 100, 1_000, 10_000};
    private static final long KIB = 1024L;
    private static final long MIB = KIB * 1024;
    private static final long GIB = MIB * 1024;
    private static final long TIB = GIB * 1024;

    /** Appends a byte count as {@link io.virtfleet.common.units.Bytes#human} writes it ("512 MiB", "15.6 GiB"). */
    static StringBuilder appendBytes(StringBuilder out, long bytes) {
        if (bytes < 0) {
            return out.append('?');
        }
        if (bytes < KIB) {
            return out.append(bytes).append(" B");
        }
        if (bytes < MIB) {
            return out.append(bytes / KIB).append(" KiB");
        }
        if (bytes < GIB) {
            return out.append(bytes / MIB).append(" MiB");
        }
        if (bytes < TIB) {
            return append(out, bytes / (double) GIB, 1).append(" GiB");
        }
        return append(out, bytes / (double) TIB, 1).append(" TiB");
    }

    /** Appends a ratio as the filters' reasons write it: one decimal when whole, else two. */
    static StringBuilder appendRatio(StringBuilder out, double d) {
        return append(out, d, d == Math.rint(d) ? 1 : 2);
    }

    /** Appends {@code x} rounded half up to {@code places} (0 to 4) decimals; returns {@code out}. */
    static StringBuilder append(StringBuilder out, double x, int places) {
        long scale = SCALE[places];
        double scaled = Math.abs(x) * scale;
        if (!(scaled < 1e12) || Math.abs(scaled - Math.floor(scaled) - 0.5) < 1e-6) {
            // NaN, infinite or huge; or so near halfway between two results that the product's rounding could
            // tip it the other way from the formatter, which rounds the number's decimal digits: both rare.
            return out.append(String.format(Locale.ROOT, "%." + places + "f", x));
        }
        long units = Math.round(scaled);
        if (x < 0) {
            out.append('-');
        }
        out.append(units / scale);
        if (places > 0) {
            out.append('.');
            long fraction = units % scale;
            for (long digit = scale / 10; digit > 0; digit /= 10) {
                out.append((char) ('0' + fraction / digit % 10));
            }
        }
        return out;
    }
}
