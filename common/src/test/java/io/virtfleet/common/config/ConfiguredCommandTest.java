package io.virtfleet.common.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

class ConfiguredCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream savedErr;

    @Command(name = "demo")
    static final class Demo implements Callable<Integer> {
        @Option(names = "--config")
        Path config;

        @Option(names = "--interval", defaultValue = "5s")
        Duration interval;

        @Option(names = "--name", defaultValue = "none")
        String name;

        @Override
        public Integer call() {
            return 0;
        }
    }

    @BeforeEach
    void captureStderr() {
        savedErr = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restoreStderr() {
        System.setErr(savedErr);
    }

    private String stderr() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void fileValuesAreDefaultsAndFlagsWin() throws Exception {
        Path file = Files.writeString(dir.resolve("demo.conf"), "interval = 2s\nname = from-file\n");
        Demo demo = new Demo();
        assertEquals(0, ConfiguredCommand.run(demo, dir.resolve("absent.conf"), "--config", file.toString(), "--name", "flag"));
        assertEquals(Duration.ofSeconds(2), demo.interval);
        assertEquals("flag", demo.name);
    }

    @Test
    void missingDefaultFileMeansDefaults() {
        Demo demo = new Demo();
        assertEquals(0, ConfiguredCommand.run(demo, dir.resolve("absent.conf")));
        assertEquals(Duration.ofSeconds(5), demo.interval);
    }

    @Test
    void explicitlyNamedMissingFileIsAnError() {
        assertEquals(2, ConfiguredCommand.run(new Demo(), dir.resolve("absent.conf"), "--config", dir.resolve("nope.conf").toString()));
        assertTrue(stderr().contains("nope.conf: no such file"), stderr());
    }

    @Test
    void unknownKeyNamesFileLineKeyAndTheAcceptedKeys() throws Exception {
        Path file = Files.writeString(dir.resolve("demo.conf"), "name = x\nintervall = 2s\n");
        assertEquals(2, ConfiguredCommand.run(new Demo(), file));
        assertTrue(stderr().contains(file + ":2: key 'intervall': unknown key; accepted keys: interval, name"), stderr());
    }

    @Test
    void badValueFromFileNamesFileLineAndKey() throws Exception {
        Path file = Files.writeString(dir.resolve("demo.conf"), "# demo\ninterval = soon\n");
        assertEquals(2, ConfiguredCommand.run(new Demo(), file));
        assertTrue(stderr().contains(file + ":2: key 'interval': "), stderr());
        assertTrue(stderr().contains("soon"), stderr());
    }

    @Test
    void unknownFlagPrintsUsageAndExitsTwo() {
        assertEquals(2, ConfiguredCommand.run(new Demo(), dir.resolve("absent.conf"), "--frobnicate"));
        assertTrue(stderr().contains("Unknown option: '--frobnicate'"), stderr());
        assertTrue(stderr().contains("Usage: demo"), stderr());
    }
}
