package io.virtfleet.controller.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs {@code deploy/systemd/verify-units.sh}, which checks the shipped systemd units with
 * {@code systemd-analyze verify}. Needs systemd-analyze (Debian package {@code systemd}); without it
 * the script exits 2 and this test fails: it is deliberately not skipped.
 */
class SystemdUnitsTest {
    private static final List<String> UNITS = List.of("virtfleet-agent.service", "virtfleet-controller.service");
    private static final long TIMEOUT_SECONDS = 120;

    @TempDir
    Path temp;

    @Test
    void shippedUnitsPassSystemdAnalyzeVerify() throws Exception {
        Path script = verifyScript();
        Result result = run(List.of(script.toString()));

        assertEquals(0, result.exitCode,
                () -> "verify-units.sh failed (exit " + result.exitCode + ")\n" + result.describe());
        for (String unit : UNITS) {
            assertFalse(result.stderr.contains(unit), () -> "stderr mentions " + unit + "\n" + result.describe());
        }
        assertTrue(result.stderr.isBlank(), () -> "unexpected output on stderr\n" + result.describe());
    }

    @Test
    void brokenUnitIsRejected() throws Exception {
        Path script = verifyScript();
        Path units = Files.createDirectories(temp.resolve("units"));
        for (String unit : UNITS) {
            Files.copy(script.resolveSibling(unit), units.resolve(unit));
        }
        Path agent = units.resolve("virtfleet-agent.service");
        String text = Files.readString(agent, StandardCharsets.UTF_8);
        assertTrue(text.contains("\nRestart=on-failure\n"), "agent unit has no Restart=on-failure line");
        Files.writeString(agent, text.replace("\nRestart=on-failure\n", "\nRestart=sometimes\n"),
                StandardCharsets.UTF_8);

        Result result = run(List.of(script.toString(), units.toString()));

        assertNotEquals(0, result.exitCode, () -> "a broken unit was accepted\n" + result.describe());
        assertTrue(result.stderr.contains("virtfleet-agent.service") && result.stderr.contains("sometimes"),
                () -> "the message does not name the broken unit and value\n" + result.describe());
    }

    /** Finds deploy/systemd/verify-units.sh from the module directory Maven runs tests in. */
    private static Path verifyScript() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path script = dir.resolve("deploy").resolve("systemd").resolve("verify-units.sh");
            if (Files.isRegularFile(script)) {
                assertTrue(Files.isExecutable(script), () -> script + " is not executable");
                return script;
            }
        }
        return fail("deploy/systemd/verify-units.sh not found above " + Path.of("").toAbsolutePath());
    }

    private Result run(List<String> command) throws IOException, InterruptedException {
        Path out = Files.createTempFile(temp, "verify", ".out");
        Path err = Files.createTempFile(temp, "verify", ".err");
        ProcessBuilder builder = new ProcessBuilder(new ArrayList<>(command))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(err.toFile());
        builder.environment().put("TMPDIR", temp.toString());
        Process process = builder.start();
        if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            fail(command + " did not finish within " + TIMEOUT_SECONDS + " s");
        }
        return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    private record Result(int exitCode, String stdout, String stderr) {
        String describe() {
            return "--- stdout ---\n" + stdout + "--- stderr ---\n" + stderr;
        }
    }
}
