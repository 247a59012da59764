package io.virtfleet.common.units;

/** Byte counts in binary units, the way libvirt and qemu-img count them. */
public final class Bytes {
    public static final long KIB = 1024L;
    public static final long MIB = KIB * 1024;
    public static final long GIB = MIB * 1024;
    public static final long TIB = GIB * 1024;

    private Bytes() {}

    /**
     * "512 MiB", "15.6 GiB"; one decimal above MiB, rounded half up (as {@code %.1f} rounds). Worked out in whole
     * numbers: {@link String#format} took most of the time of a refused placement's explanation, which writes a few
     * of these for every host.
     */
    public static String human(long bytes) {
        if (bytes < 0) {
            return "?";
        }
        if (bytes < KIB) {
            return bytes + " B";
        }
        if (bytes < MIB) {
            return (bytes / KIB) + " KiB";
        }
        if (bytes < GIB) {
            return (bytes / MIB) + " MiB";
        }
        if (bytes < TIB) {
            return tenths(bytes, GIB) + " GiB";
        }
        return tenths(bytes, TIB) + " TiB";
    }

    /** {@code bytes / unit} rounded half up to one decimal: "15.6". */
    private static String tenths(long bytes, long unit) {
        long remainder = bytes % unit;
        long tenths = (bytes / unit) * 10 + (remainder * 10 + unit / 2) / unit; // remainder * 10 < 10 TiB: no overflow
        return (tenths / 10) + "." + (tenths % 10);
    }
}
