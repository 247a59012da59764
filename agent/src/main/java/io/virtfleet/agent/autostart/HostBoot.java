package io.virtfleet.agent.autostart;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which boot of the host this is. Autostart means "when the host boots", not "when the agent starts": an agent
 * restarted on a running host must not start again a VM an operator stopped since the boot.
 */
@FunctionalInterface
public interface HostBoot {
    /** The kernel's identity of the running boot: a random UUID made anew at each boot. */
    Path KERNEL_BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");

    /** This boot's identity, different at each boot of the host. */
    String id() throws IOException;

    /** The kernel's boot identity ({@link #KERNEL_BOOT_ID}). */
    static HostBoot kernel() {
        return fromFile(KERNEL_BOOT_ID);
    }

    /** The identity written in {@code file} (one line). */
    static HostBoot fromFile(Path file) {
        return () -> {
            String id = Files.readString(file, StandardCharsets.UTF_8).strip();
            if (id.isEmpty() || id.length() > 128 || !id.chars().allMatch(c -> c > ' ' && c < 127)) {
                throw new IOException(file + " does not hold a boot identity (one line of up to 128 printable"
                        + " characters, such as the kernel's UUID)");
            }
            return id;
        };
    }
}
