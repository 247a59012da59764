package io.virtfleet.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** What Linux's /proc says about a process: CPU time used and resident memory. */
final class ProcStats {
    private static final long TICKS_PER_SECOND = clockTicks();

    private ProcStats() {}

    /** User plus system CPU time of the whole process (all threads), in nanoseconds. */
    static long cpuNanos(long pid) {
        String stat = read(pid, "stat");
        // Fields after the command name, which is in parentheses and may hold spaces.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
        long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime (14th field), stime (15th)
        return ticks * 1_000_000_000L / TICKS_PER_SECOND;
    }

    /**
     * The resident set in KiB: total (VmRSS), anonymous and file-backed from /proc/PID/status, and the part
     * no other process shares (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup).
     */
    record Memory(long rssKiB, long anonKiB, long fileKiB, long privateKiB) {}

    static Memory memory(long pid) {
        long rss = 0;
        long anon = 0;
        long file = 0;
        for (String line : read(pid, "status").split("\n")) {
            if (line.startsWith("VmRSS:")) {
                rss = kib(line);
            } else if (line.startsWith("RssAnon:")) {
                anon = kib(line);
            } else if (line.startsWith("RssFile:")) {
                file = kib(line);
            }
        }
        long unshared = 0;
        for (String line : read(pid, "smaps_rollup").split("\n")) {
            if (line.startsWith("Private_Clean:") || line.startsWith("Private_Dirty:")) {
                unshared += kib(line);
            }
        }
        return new Memory(rss, anon, file, unshared);
    }

    static boolean alive(long pid) {
        return Files.exists(Path.of("/proc", Long.toString(pid), "stat"));
    }

    private static long kib(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }

    private static String read(long pid, String file) {
        try {
            return Files.readString(Path.of("/proc", pid < 0 ? "self" : Long.toString(pid), file),
                    StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read /proc/" + pid + "/" + file + " (process gone?)", e);
        }
    }

    private static long clockTicks() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
            p.waitFor();
            return Long.parseLong(out);
        } catch (IOException | NumberFormatException e) {
            return 100; // USER_HZ on every mainstream Linux build
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }
}
