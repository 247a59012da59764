package io.virtfleet.bench;

import io.virtfleet.common.validation.Endpoint;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * A {@link ControllerProcess} JVM as the benchmarks drive it: started, read until it listens, asked for
 * reports over its stdin/stdout, then told to quit (or killed, for a restart).
 */
final class ControllerChild implements AutoCloseable {
    final String mode;
    final ChildJvm jvm;
    final int port;
    /** The controller's data directory; null for the no-op modes. */
    final Path dataDir;
    /** When the controller said it accepts connections, on this JVM's {@link System#nanoTime()} clock. */
    final long listeningAtNanos;
    private final BufferedReader out;
    private final PrintWriter in;
    private boolean keepLog;

    private ControllerChild(String mode, ChildJvm jvm, BufferedReader out, PrintWriter in, int port, Path dataDir,
                            long listeningAtNanos) {
        this.mode = mode;
        this.jvm = jvm;
        this.out = out;
        this.in = in;
        this.port = port;
        this.dataDir = dataDir;
        this.listeningAtNanos = listeningAtNanos;
    }

    /**
     * Starts {@code ControllerProcess mode} and waits until it listens. {@code port} 0 picks a free one;
     * {@code dataDir} null lets the process choose (a fresh temporary directory, or none for the no-op modes).
     */
    static ControllerChild start(String mode, int port, Path dataDir, List<String> jvmFlags, String classpath,
                                 String label) throws IOException {
        return start(mode, port, dataDir, List.of(), jvmFlags, classpath, label);
    }

    /** As above, with more of {@link ControllerProcess}'s arguments ({@code --metrics-listen}, ...). */
    static ControllerChild start(String mode, int port, Path dataDir, List<String> moreArgs, List<String> jvmFlags,
                                 String classpath, String label) throws IOException {
        Path log = Files.createTempFile("vf-" + label.replace('/', '-'), ".log");
        List<String> args = new ArrayList<>(List.of(mode, "--port", Integer.toString(port)));
        if (dataDir != null) {
            args.add("--data-dir");
            args.add(dataDir.toString());
        }
        args.addAll(moreArgs);
        ChildJvm jvm = ChildJvm.start(label, jvmFlags, classpath, ControllerProcess.class.getName(), args, log, true);
        BufferedReader out = new BufferedReader(new InputStreamReader(jvm.process.getInputStream(),
                StandardCharsets.UTF_8));
        PrintWriter in = new PrintWriter(jvm.process.getOutputStream(), true, StandardCharsets.UTF_8);
        // Skip what the JVM itself may print first (e.g. -XX:StartFlightRecording's notice).
        String first = out.readLine();
        for (int skipped = 0; first != null && !first.startsWith("LISTENING") && skipped < 20; skipped++) {
            first = out.readLine();
        }
        String[] f = first == null ? new String[0] : first.trim().split("\\s+");
        if (f.length != 4 || !f[0].equals("LISTENING")) {
            String tail = jvm.logTail(30);
            jvm.close();
            throw new IllegalStateException(label + " did not start: " + first + "\n" + tail + "\n(log kept at "
                    + log + ")");
        }
        // The child's wall-clock instant, moved onto this JVM's nanoTime (same machine, same clock).
        Instant now = Instant.now();
        long nanoNow = System.nanoTime();
        long wallNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        long listening = nanoNow - (wallNanos - Long.parseLong(f[3]) * 1000);
        return new ControllerChild(mode, jvm, out, in, Integer.parseInt(f[1]), f[2].equals("-") ? null : Path.of(f[2]),
                listening);
    }

    Endpoint endpoint() {
        return new Endpoint("127.0.0.1", port);
    }

    long pid() {
        return jvm.pid();
    }

    String command(String command, String expect) throws IOException {
        in.println(command);
        String line = out.readLine();
        if (line == null || !line.startsWith(expect)) {
            keepLog = true;
            throw new IllegalStateException(jvm.label + " answered '" + line + "' to " + command + "\n"
                    + jvm.logTail(20));
        }
        return line;
    }

    /** The port of the controller's Prometheus endpoint; 0 when it serves none. */
    int metricsPort() throws IOException {
        return Integer.parseInt(command("metrics-port", "METRICS-PORT ").substring("METRICS-PORT ".length()).trim());
    }

    /** Has the controller record one in-step fan-out per registered host (see {@link ControllerProcess}); returns how many. */
    int fanOutObserved() throws IOException {
        return Integer.parseInt(command("fan-out-observed", "OK ").substring("OK ".length()).trim());
    }

    /** Forgets the heartbeat histogram. */
    void reset() throws IOException {
        command("reset", "OK");
    }

    /** What the controller measured since it started or the last reset. */
    Report report() throws IOException {
        String line = command("report", "REPORT ");
        long[] v = Arrays.stream(line.substring("REPORT ".length()).trim().split("\\s+")).mapToLong(Long::parseLong)
                .toArray();
        return new Report(v[0], v[1], v[3], v[4], v[5], v[7]);
    }

    /** Server-side heartbeat handling times (nanoseconds), hosts in the registry (-1 for the no-op modes). */
    record Report(long heartbeats, long p50, long p99, long p999, long max, long hosts) {}

    /**
     * The controller's collections (count, milliseconds) since it started and the bytes each of its live threads
     * allocated; null from a controller process that cannot tell (an older build's).
     */
    Stats stats() throws IOException {
        in.println("stats");
        String line = out.readLine();
        if (line == null || !line.startsWith("STATS ")) {
            return null;
        }
        String[] f = line.substring("STATS ".length()).trim().split("\\s+");
        java.util.Map<Long, Long> perThread = new java.util.HashMap<>();
        long longestPause = -1; // an older build's controller does not say
        for (int i = 2; i < f.length; i++) {
            if (f[i].startsWith("pause_max_ms=")) {
                longestPause = Long.parseLong(f[i].substring("pause_max_ms=".length()));
                continue;
            }
            int colon = f[i].indexOf(':');
            perThread.put(Long.parseLong(f[i].substring(0, colon)), Long.parseLong(f[i].substring(colon + 1)));
        }
        return new Stats(Long.parseLong(f[0]), Long.parseLong(f[1]), longestPause, perThread);
    }

    /** @param longestPauseMillis the longest collection since the previous {@link #stats}; -1 if not told */
    record Stats(long collections, long gcMillis, long longestPauseMillis, java.util.Map<Long, Long> allocatedByThread) {
        /**
         * Bytes allocated between {@code before} and this, by the threads alive at this point (a thread that ended
         * in between took its count with it: the figure may be a little low, never negative).
         */
        long allocatedSince(Stats before) {
            long sum = 0;
            for (java.util.Map.Entry<Long, Long> e : allocatedByThread.entrySet()) {
                sum += e.getValue() - before.allocatedByThread.getOrDefault(e.getKey(), 0L);
            }
            return sum;
        }
    }

    void sleepWhileAlive(Duration d) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            requireAlive();
            Thread.sleep(Math.max(1, Math.min(200, (end - System.nanoTime()) / 1_000_000)));
        }
    }

    void requireAlive() {
        if (!jvm.process.isAlive()) {
            keepLog = true;
            throw new IllegalStateException(jvm.label + " died:\n" + jvm.logTail(30) + "\n(log kept at " + jvm.log + ")");
        }
    }

    /** SIGKILL, as a crash or an impatient restart would: no goodbye to the clients. */
    void kill() throws InterruptedException {
        jvm.process.destroyForcibly();
        if (!jvm.process.waitFor(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException(jvm.label + " survived SIGKILL for 10 s");
        }
        deleteLog();
    }

    void keepLog() {
        keepLog = true;
    }

    @Override
    public void close() {
        if (jvm.process.isAlive()) {
            in.println("quit");
            try {
                jvm.process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        jvm.close();
        if (keepLog) {
            System.err.printf(Locale.ROOT, "%s log kept at %s%n", jvm.label, jvm.log);
        } else {
            deleteLog();
        }
    }

    private void deleteLog() {
        try {
            Files.deleteIfExists(jvm.log);
        } catch (IOException e) {
            // a temporary file; not worth failing over
        }
    }
}
