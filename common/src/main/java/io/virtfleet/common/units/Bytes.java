package io.virtfleet.common.units;

import java.util.Locale;

/** Byte counts in binary units, the way libvirt and qemu-img count them. */
public final class Bytes {
    public static final long KIB = 1024L;
    public static final long MIB = KIB * 1024;
    public static final long GIB = MIB * 1024;
    public static final long TIB = GIB * 1024;

    private Bytes() {}

    /** "512 MiB", "15.6 GiB"; one decimal above MiB. */
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
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) GIB);
        }
        return String.format(Locale.ROOT, "%.1f TiB", bytes / (double) TIB);
    }
}
