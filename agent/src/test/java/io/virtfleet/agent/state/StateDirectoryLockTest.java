package io.virtfleet.agent.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One agent per state directory: a second one, in this JVM or another process, is refused with the holder's pid. */
class StateDirectoryLockTest {
    @TempDir
    Path state;

    @Test
    void aSecondAgentOfThisJvmIsRefusedUntilTheFirstLetsGo() throws IOException {
        StateDirectoryLock first = StateDirectoryLock.acquire(state);
        long pid = ProcessHandle.current().pid();
        assertEquals(pid + "\n", Files.readString(state.resolve(StateDirectoryLock.FILE)));
        IOException refused = assertThrows(IOException.class, () -> StateDirectoryLock.acquire(state));
        assertEquals("another virtfleet-agent uses state-dir " + state + " (pid " + pid + "): one agent per state directory",
                refused.getMessage());
        first.close();
        StateDirectoryLock.acquire(state).close();
    }

    @Test
    void anAgentOfAnotherProcessHoldsItUntilThatProcessEnds() throws Exception {
        // Another process takes the lock as the agent does (the kernel's record lock on the same file).
        Path holder = Files.writeString(state.resolve("Holder.java"), """
                import java.nio.channels.FileChannel;
                import java.nio.file.*;
                public class Holder {
                    public static void main(String[] a) throws Exception {
                        FileChannel c = FileChannel.open(Path.of(a[0]), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                        c.lock();
                        c.write(java.nio.ByteBuffer.wrap((ProcessHandle.current().pid() + "\\n").getBytes()), 0);
                        System.out.println("LOCKED");
                        System.in.read();
                    }
                }
                """);
        Process other = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                holder.toString(), state.resolve(StateDirectoryLock.FILE).toString()).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(other.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("LOCKED", out.readLine());
            IOException refused = assertThrows(IOException.class, () -> StateDirectoryLock.acquire(state));
            assertTrue(refused.getMessage().contains("(pid " + other.pid() + ")"), refused.getMessage());
        } finally {
            other.getOutputStream().close();
            assertTrue(other.waitFor(30, TimeUnit.SECONDS));
        }
        StateDirectoryLock.acquire(state).close(); // the kernel dropped the lock with the process
    }
}
