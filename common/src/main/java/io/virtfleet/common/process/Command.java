package io.virtfleet.common.process;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * One external program run from an argument list: never through a shell, so no argument is ever
 * interpreted (a VM named {@code $(reboot)} could not get this far, and would be harmless here). Output is
 * captured, bounded, and the run is killed at its timeout. Immutable; {@link #run()} may be called again.
 */
public final class Command {
    /** Keep at most this much of each stream: enough for any tool's JSON, bounded for a runaway one. */
    private static final int MAX_OUTPUT = 1 << 20;

    private final List<String> argv;
    private final Duration timeout;
    private final Map<String, String> environment;
    private final Path directory;

    private Command(List<String> argv, Duration timeout, Map<String, String> environment, Path directory) {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("empty command");
        }
        for (String a : argv) {
            if (a == null || a.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("argument with NUL or null in " + argv);
            }
        }
        this.argv = List.copyOf(argv);
        this.timeout = timeout;
        this.environment = Map.copyOf(environment);
        this.directory = directory;
    }

    public static Command of(String... argv) {
        return new Command(List.of(argv), Duration.ofMinutes(1), Map.of(), null);
    }

    public static Command of(List<String> argv) {
        return new Command(argv, Duration.ofMinutes(1), Map.of(), null);
    }

    public Command timeout(Duration t) {
        return new Command(argv, t, environment, directory);
    }

    /** Adds (or overrides) one environment variable of the child; the rest is inherited. */
    public Command env(String name, String value) {
        Map<String, String> env = new TreeMap<>(environment);
        env.put(name, value);
        return new Command(argv, timeout, env, directory);
    }

    public Command directory(Path dir) {
        return new Command(argv, timeout, environment, dir);
    }

    public List<String> argv() {
        return argv;
    }

    /** Runs the program; returns whatever its exit code. Throws only when it cannot run or times out. */
    public Result run() {
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().putAll(environment);
        if (directory != null) {
            pb.directory(directory.toFile());
        }
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        long start = System.nanoTime();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new CommandException(this, "cannot start: " + e.getMessage(), null);
        }
        Drain out = new Drain(p.getInputStream());
        Drain err = new Drain(p.getErrorStream());
        out.start();
        err.start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                throw new CommandException(this, "timed out after " + timeout.toMillis() + " ms", null);
            }
            out.join(5000);
            err.join(5000);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new CommandException(this, "interrupted", null);
        }
        return new Result(this, p.exitValue(), out.text(), err.text(), Duration.ofNanos(System.nanoTime() - start));
    }

    /** Runs the program and insists on exit code 0. */
    public Result runChecked() {
        Result r = run();
        if (r.exitCode() != 0) {
            throw new CommandException(this, "exit code " + r.exitCode(), r);
        }
        return r;
    }

    @Override
    public String toString() {
        return String.join(" ", argv);
    }

    /** What a run produced. */
    public record Result(Command command, int exitCode, String stdout, String stderr, Duration elapsed) {
        /** The last line of standard error, the usual place for a tool's reason; empty when there is none. */
        public String reason() {
            String s = stderr.strip();
            int nl = s.lastIndexOf('\n');
            return nl < 0 ? s : s.substring(nl + 1);
        }
    }

    private static final class Drain extends Thread {
        private final InputStream in;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        Drain(InputStream in) {
            this.in = in;
            setDaemon(true);
            setName("vf-command-output");
        }

        @Override
        public void run() {
            byte[] chunk = new byte[8192];
            try (in) {
                int n;
                while ((n = in.read(chunk)) >= 0) {
                    synchronized (buf) {
                        if (buf.size() < MAX_OUTPUT) {
                            buf.write(chunk, 0, Math.min(n, MAX_OUTPUT - buf.size()));
                        }
                    }
                }
            } catch (IOException e) {
                // the process went away; keep what was read
            }
        }

        String text() {
            synchronized (buf) {
                return buf.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
