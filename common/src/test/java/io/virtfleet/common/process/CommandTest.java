package io.virtfleet.common.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class CommandTest {
    @Test
    void argumentsReachTheProgramVerbatimWithoutAShell() {
        Command.Result r = Command.of("printf", "%s|", "$(echo pwned)", "a;b", "x y", "`id`").runChecked();
        assertEquals("$(echo pwned)|a;b|x y|`id`|", r.stdout());
    }

    @Test
    void aFailureNamesTheCommandAndTheToolsReason() {
        CommandException e = assertThrows(CommandException.class,
                () -> Command.of("ls", "/no/such/dir-for-virtfleet").runChecked());
        assertTrue(e.getMessage().startsWith("ls exit code 2: "), e.getMessage());
        assertTrue(e.getMessage().contains("No such file"), e.getMessage());
        assertTrue(e.getMessage().endsWith("(command: ls /no/such/dir-for-virtfleet)"), e.getMessage());
        assertEquals(2, e.result().exitCode());
    }

    @Test
    void aProgramThatHangsIsKilledAtItsTimeout() {
        long t0 = System.nanoTime();
        CommandException e = assertThrows(CommandException.class,
                () -> Command.of("sleep", "30").timeout(Duration.ofMillis(300)).run());
        assertTrue(e.getMessage().contains("timed out after 300 ms"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "did not wait for sleep to finish");
    }

    @Test
    void aMissingProgramSaysSo() {
        CommandException e = assertThrows(CommandException.class, () -> Command.of("virtfleet-no-such-tool").run());
        assertTrue(e.getMessage().startsWith("virtfleet-no-such-tool cannot start"), e.getMessage());
    }

    @Test
    void environmentIsPassedAndNulIsRefused() {
        assertEquals("conf", Command.of("printenv", "CEPH_CONF").env("CEPH_CONF", "conf").runChecked().stdout().strip());
        assertThrows(IllegalArgumentException.class, () -> Command.of("echo", "a\0b"));
    }
}
