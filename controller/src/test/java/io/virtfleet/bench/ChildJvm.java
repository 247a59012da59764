package io.virtfleet.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A JVM the benchmark starts, with its output in a log file; stopped with SIGTERM, then SIGKILL. */
final class ChildJvm implements AutoCloseable {
    private static final Pattern ENV = Pattern.compile("([A-Z_][A-Z0-9_]*)=(.*)");

    final String label;
    final Process process;
    final Path log;

    private ChildJvm(String label, Process process, Path log) {
        this.label = label;
        this.process = process;
        this.log = log;
    }

    static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * Starts {@code java FLAGS -cp CLASSPATH MAIN ARGS}; stdout goes to the log unless {@code pipeStdout}.
     * A flag written {@code NAME=VALUE} with an upper-case name (e.g. {@code MALLOC_ARENA_MAX=2}) is set in
     * the child's environment instead, as a systemd unit's {@code Environment=} line would.
     */
    static ChildJvm start(String label, List<String> jvmFlags, String classpath, String mainClass, List<String> args,
                          Path log, boolean pipeStdout) throws IOException {
        List<String> command = new ArrayList<>();
        Map<String, String> env = new LinkedHashMap<>();
        command.add(javaBinary());
        for (String flag : jvmFlags) {
            Matcher m = ENV.matcher(flag);
            if (m.matches()) {
                env.put(m.group(1), m.group(2));
            } else {
                command.add(flag);
            }
        }
        command.add("-cp");
        command.add(classpath);
        command.add(mainClass);
        command.addAll(args);
        Files.createDirectories(log.toAbsolutePath().getParent());
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(log.toFile());
        pb.environment().putAll(env);
        if (!pipeStdout) {
            pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        }
        return new ChildJvm(label, pb.start(), log);
    }

    long pid() {
        return process.pid();
    }

    /** The last lines of the child's log, to explain a failure. */
    String logTail(int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
