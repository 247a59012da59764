package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The README's main command, as `deploy/embedded-fleet --once` runs it. */
class EmbeddedMainTest {
    @Test
    void showsAFleetOfThreeReadyHostsAndStops() {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = new CommandLine(new EmbeddedMain()).execute("--once", "--port", "0");
        } finally {
            System.setOut(saved);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, out);
        assertTrue(out.contains("with 3 agents"), out);
        for (String host : new String[] {"hv1", "hv2", "hv3"}) {
            assertTrue(out.lines().anyMatch(l -> l.startsWith(host + " ") && l.contains(" ready ")), out);
        }
        assertTrue(out.contains("Hypervisor:    TEST"), out);
    }

    @Test
    void refusesAnAbsurdNumberOfAgents() {
        assertEquals(2, new CommandLine(new EmbeddedMain()).execute("--agents", "0", "--once"));
    }
}
