package io.virtfleet.controller.scheduler;

import java.util.Locale;

/**
 * Writes a number with a fixed count of decimals, as {@code %.Nf} does, for the score in every decision's
 * verdict: {@link java.util.Formatter} took about 2 µs for a verdict's four numbers, a third of a decision.
 */
final class Decimals {
    private Decimals() {}

    private static final long[] SCALE = {1, 10, 100, 1_000, 10_000};

    /**
     * Appends a byte count as {@link io.virtfleet.common.units.Bytes#human} writes it ("512 MiB", "15.6 GiB"): that
     * one works in whole numbers and no longer needs the formatter, so it is the one implementation.
     */
    static StringBuilder appendBytes(StringBuilder out, long bytes) {
        return out.append(io.virtfleet.common.units.Bytes.human(bytes));
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
