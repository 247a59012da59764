package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.install.InstallerHook;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The initrd domains boot: Debian's, untouched, with virtfleet's start-up hook appended as a cpio archive. */
class InstallerFilesTest {
    @TempDir
    Path dir;

    private Path debian() throws Exception {
        Path d = Files.createDirectories(dir.resolve("debian"));
        Files.write(d.resolve("linux"), new byte[] {1, 2, 3});
        Files.write(d.resolve("initrd.gz"), "debian's initrd".getBytes(StandardCharsets.US_ASCII));
        return d;
    }

    @Test
    void thePreparedInitrdIsDebiansFollowedByTheHookWhichDebiansStartUpRuns() throws Exception {
        Path debian = debian();
        InstallerFiles files = InstallerFiles.prepare(debian, dir.resolve("images/.virtfleet-installer"));
        assertTrue(files.available());
        assertEquals(dir.resolve("images/.virtfleet-installer/initrd.gz"), files.initrd());
        assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(files.initrd())),
                "readable by QEMU whatever user it runs as");
        assertEquals(debian.resolve("linux"), files.kernel());
        byte[] prepared = Files.readAllBytes(files.initrd());
        byte[] original = Files.readAllBytes(debian.resolve("initrd.gz"));
        assertArrayEquals(original, Arrays.copyOf(prepared, original.length), "Debian's archive first, unchanged");
        // Debian's 15 bytes, then zeros to the 4-byte boundary the kernel reads an appended archive from.
        int start = (original.length + 3) & ~3;
        assertArrayEquals(new byte[start - original.length], Arrays.copyOfRange(prepared, original.length, start));
        Map<String, Object[]> entries = cpio(Arrays.copyOfRange(prepared, start, prepared.length));
        assertEquals(java.util.List.of("lib", "lib/debian-installer-startup.d", InstallerHook.SCRIPT, "sbin",
                InstallerHook.IP, "TRAILER!!!"), java.util.List.copyOf(entries.keySet()));
        assertEquals(0100755, entries.get(InstallerHook.IP)[0]);
        String ip = new String((byte[]) entries.get(InstallerHook.IP)[1], StandardCharsets.US_ASCII);
        assertTrue(ip.contains("/bin/busybox ip \"$@\"") && ip.contains("route replace default via"), ip);
        assertEquals(0100755, entries.get(InstallerHook.SCRIPT)[0], "executable: debian-installer-startup runs it");
        String script = new String((byte[]) entries.get(InstallerHook.SCRIPT)[1], StandardCharsets.US_ASCII);
        assertTrue(script.startsWith("#!/bin/sh") && script.contains("virtfleet/onlink-gateway=")
                && script.contains("3>&-"), script);
        assertEquals("debian's initrd", Files.readString(debian.resolve("initrd.gz")), "Debian's file never changes");
    }

    @Test
    void itIsWrittenAgainOnlyWhenDebiansChangedOrItIsNotWhatThisAgentWouldWrite() throws Exception {
        Path debian = debian();
        Path prepared = InstallerFiles.prepare(debian, dir.resolve("images/.virtfleet-installer")).initrd();
        FileTime first = Files.getLastModifiedTime(prepared);
        Object key = Files.readAttributes(prepared, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        InstallerFiles.prepare(debian, dir.resolve("images/.virtfleet-installer"));
        assertEquals(key, Files.readAttributes(prepared, java.nio.file.attribute.BasicFileAttributes.class).fileKey(),
                "reused: the same file");

        // dpkg keeps the package's own (older) times: another file, older than the prepared one, is still new here.
        Files.writeString(debian.resolve("initrd.gz"), "debian's next initrd");
        Files.setLastModifiedTime(debian.resolve("initrd.gz"), FileTime.fromMillis(first.toMillis() - 86_400_000L));
        InstallerFiles.prepare(debian, dir.resolve("images/.virtfleet-installer"));
        assertTrue(new String(Files.readAllBytes(prepared), StandardCharsets.ISO_8859_1).startsWith("debian's next initrd"));

        byte[] tampered = Files.readAllBytes(prepared);
        tampered[tampered.length - 600] ^= 1; // inside the hook's script
        Files.write(prepared, tampered);
        Files.setLastModifiedTime(prepared, FileTime.fromMillis(first.toMillis() + 5000));
        InstallerFiles.prepare(debian, dir.resolve("images/.virtfleet-installer"));
        byte[] hook = InstallerHook.archive();
        byte[] now = Files.readAllBytes(prepared);
        assertArrayEquals(hook, Arrays.copyOfRange(now, now.length - hook.length, now.length), "the hook restored");
    }

    @Test
    void withoutDebiansFilesNothingIsWrittenAndNothingIsAvailable() throws Exception {
        InstallerFiles files = InstallerFiles.prepare(dir.resolve("none"), dir.resolve("images/.virtfleet-installer"));
        assertFalse(files.available());
        assertFalse(Files.exists(dir.resolve("images/.virtfleet-installer")));
    }

    /** The entries of a newc archive, in order: name to {mode, data}. */
    private static Map<String, Object[]> cpio(byte[] archive) {
        Map<String, Object[]> out = new LinkedHashMap<>();
        int i = 0;
        while (true) {
            String header = new String(archive, i, 110, StandardCharsets.US_ASCII);
            assertEquals("070701", header.substring(0, 6));
            int mode = Integer.parseInt(header.substring(14, 22), 16);
            int size = Integer.parseInt(header.substring(54, 62), 16);
            int nameSize = Integer.parseInt(header.substring(94, 102), 16);
            String name = new String(archive, i + 110, nameSize - 1, StandardCharsets.US_ASCII);
            int data = align(i + 110 + nameSize);
            out.put(name, new Object[] {mode, Arrays.copyOfRange(archive, data, data + size)});
            i = align(data + size);
            if (name.equals("TRAILER!!!")) {
                assertEquals(0, archive.length % 512, "padded to a block");
                return out;
            }
        }
    }

    private static int align(int n) {
        return (n + 3) & ~3;
    }
}
