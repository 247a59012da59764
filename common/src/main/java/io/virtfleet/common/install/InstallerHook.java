package io.virtfleet.common.install;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * What virtfleet adds to the Debian installer's initrd so that a failover-IP VM's installer gets its routes to a
 * gateway outside its /32, which netcfg cannot make: {@code /sbin/ip} in place of busybox's link
 * ({@code ip-then-onlink.sh}: adds them as soon as netcfg adds the address) and a start-up script
 * ({@code onlink-gateway.sh}, run by debian-installer-startup) that keeps them afterwards. The kernel unpacks every
 * archive of a concatenated initrd in turn, so the hook is an uncompressed cpio archive loaded after Debian's
 * {@code initrd.gz}, nothing of Debian's rewritten: appended to it by the agent for direct kernel boot, named as a
 * second initrd in the pxelinux config by the controller for PXE boot.
 */
public final class InstallerHook {
    /** Where debian-installer-startup finds it, and runs it before the installer's menu. */
    public static final String SCRIPT = "lib/debian-installer-startup.d/S31virtfleet-onlink";
    /** Takes the place of busybox's link: netcfg's "ip addr add" gets the routes right after it. */
    public static final String IP = "sbin/ip";

    private InstallerHook() {}

    /** The hook as a cpio archive (newc format, as the kernel reads it). */
    public static byte[] archive() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        entry(out, "lib", 0040755, new byte[0]);
        entry(out, "lib/debian-installer-startup.d", 0040755, new byte[0]);
        entry(out, SCRIPT, 0100755, resource("onlink-gateway.sh"));
        entry(out, "sbin", 0040755, new byte[0]);
        entry(out, IP, 0100755, resource("ip-then-onlink.sh"));
        entry(out, "TRAILER!!!", 0, new byte[0]);
        while (out.size() % 512 != 0) {
            out.write(0);
        }
        return out.toByteArray();
    }

    private static byte[] resource(String name) {
        try (InputStream in = InstallerHook.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(name + " missing from virtfleet-common's jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One newc entry: a header of 13 eight-digit hex fields, the name, the data, each padded to 4 bytes. */
    private static void entry(ByteArrayOutputStream out, String name, int mode, byte[] data) {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        StringBuilder header = new StringBuilder("070701");
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
        for (long field : new long[] {0, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0}) {
            header.append(String.format(Locale.ROOT, "%08X", field));
        }
        out.writeBytes(header.toString().getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(nameBytes);
        pad(out);
        out.writeBytes(data);
        pad(out);
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }
}
