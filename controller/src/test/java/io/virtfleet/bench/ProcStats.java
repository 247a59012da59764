package io.virtfleet.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.stream.Stream;

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
     * User plus system CPU time of each of the process's threads, in nanoseconds, summed by {@link ThreadKind}
     * (from /proc/PID/task/TID/stat; a thread that ended since the last read takes its time with it, which the
     * benchmarks' long-lived event loops, compilers and collectors never do).
     */
    static Map<ThreadKind, Long> threadCpuNanos(long pid) {
        Map<ThreadKind, Long> out = new EnumMap<>(ThreadKind.class);
        for (ThreadKind g : ThreadKind.values()) {
            out.put(g, 0L);
        }
        Path tasks = Path.of("/proc", pid < 0 ? "self" : Long.toString(pid), "task");
        try (Stream<Path> threads = Files.list(tasks)) {
            for (Path task : threads.toList()) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat"), StandardCharsets.US_ASCII);
                } catch (IOException e) {
                    continue; // the thread ended between the listing and the read
                }
                String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
                long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
                out.merge(ThreadKind.of(name), ticks * 1_000_000_000L / TICKS_PER_SECOND, Long::sum);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + tasks + " (process gone?)", e);
        }
        return out;
    }

    /** What a JVM thread does, told by its name (Linux keeps the first 15 characters). */
    enum ThreadKind {
        /** gRPC's Netty event loops: where the controller handles calls, TLS included. */
        EVENT_LOOP,
        /** The JIT compilers (and the code-cache sweeper): what a warm-up has to get past. */
        JIT,
        /** The garbage collector's threads and the VM thread, which runs its pauses (and other safepoints). */
        GC,
        /** Everything else: the controller's own threads (liveness, reconciler, ...), JVM housekeeping. */
        OTHER;

        static ThreadKind of(String name) {
            if (name.startsWith("vf-controller-i") || name.startsWith("grpc-nio-worker") || name.startsWith("grpc-default-")) {
                return EVENT_LOOP;
            }
            if (name.startsWith("C1 CompilerThre") || name.startsWith("C2 CompilerThre") || name.startsWith("Sweeper")) {
                return JIT;
            }
            if (name.startsWith("GC Thread") || name.startsWith("G1 ") || name.startsWith("VM Thread")
                    || name.startsWith("GC ")) {
                return GC;
            }
            return OTHER;
        }
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
