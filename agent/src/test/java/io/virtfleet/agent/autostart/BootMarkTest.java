package io.virtfleet.agent.autostart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.autostart.BootMark.Decision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Domains are started with the host once per host boot, however often the agent starts during it. */
class BootMarkTest {
    @TempDir
    Path state;

    @Test
    void theRule() {
        assertEquals(Decision.FIRST_RUN, BootMark.decide(Optional.empty(), "b1"));
        assertEquals(Decision.ALREADY_SERVED, BootMark.decide(Optional.of("b1"), "b1"));
        assertEquals(Decision.START, BootMark.decide(Optional.of("b1"), "b2"));
    }

    @Test
    void aBootIsServedOnceAndTheMarkSurvivesTheAgent() throws Exception {
        assertEquals(Decision.FIRST_RUN, new BootMark(state).serve("b1"), "an agent's first start: libvirt served b1");
        assertEquals(Decision.ALREADY_SERVED, new BootMark(state).serve("b1"), "the agent restarted during boot b1");
        assertEquals(Decision.START, new BootMark(state).serve("b2"), "the host booted again");
        assertEquals(Decision.ALREADY_SERVED, new BootMark(state).serve("b2"), "marked before anything is started");
        assertEquals("b2\n", Files.readString(state.resolve(BootMark.FILE)));
        try (var files = Files.list(state)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void aMarkThatCannotBeWrittenStartsNothing() throws Exception {
        Path readOnly = state.resolve("not-a-directory");
        Files.writeString(readOnly, "a file where the state directory should be");
        assertThrows(IOException.class, () -> new BootMark(readOnly).serve("b1"));
    }

    @Test
    void theBootIdentityIsOneLineOfText() throws Exception {
        Path file = state.resolve("boot_id");
        Files.writeString(file, "4f1c3e2a-9b7d-4c55-8e21-0d6f5a7b9c10\n");
        assertEquals("4f1c3e2a-9b7d-4c55-8e21-0d6f5a7b9c10", HostBoot.fromFile(file).id());
        Files.writeString(file, "\n");
        IOException empty = assertThrows(IOException.class, () -> HostBoot.fromFile(file).id());
        assertTrue(empty.getMessage().contains("does not hold a boot identity"), empty.getMessage());
        assertTrue(HostBoot.kernel().id().length() >= 32, "the kernel's boot identity is a UUID");
    }
}
