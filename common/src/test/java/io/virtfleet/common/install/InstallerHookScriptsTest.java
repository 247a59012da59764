package io.virtfleet.common.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The installer hook's two scripts run by busybox's shell, as in the Debian installer, each in a mount namespace of
 * its own (root) where the test's kernel command line lies over {@code /proc/cmdline} and a stub takes the place of
 * busybox's {@code ip}, recording what it is asked.
 */
class InstallerHookScriptsTest {
    private static final String GATEWAY_ARG = "virtfleet/onlink-gateway=203.0.113.254";

    @TempDir
    Path dir;

    @Test
    void theStartUpScriptKeepsTheOnLinkAndDefaultRoutesOnTheInterfaceWithAnAddress() throws Exception {
        Path log = dir.resolve("ip.log");
        Path stubs = Files.createDirectories(dir.resolve("stubs"));
        executable(stubs.resolve("ip"), "#!/bin/sh\necho \"ip $*\" >> " + log + "\n"
                + "[ \"$1 $2 $3 $5\" = \"-4 addr show eth0\" ] && echo '    inet 198.51.100.7/32 scope global eth0'\nexit 0\n");
        Path cmdline = Files.writeString(dir.resolve("cmdline"), "auto=true * " + GATEWAY_ARG + " --- quiet\n");
        Path script = resource("onlink-gateway.sh");
        // A /sys/class/net of the test's: lo, and eth0 (the stub gives it the failover address).
        Process p = new ProcessBuilder("setsid", "unshare", "-m", "--propagation", "private", "--", "sh", "-c",
                "mount --bind \"$1\" /proc/cmdline && mount -t tmpfs none /sys/class/net"
                        + " && mkdir /sys/class/net/lo /sys/class/net/eth0 && PATH=\"$2:$PATH\" exec busybox sh \"$3\"",
                "sh", cmdline.toString(), stubs.toString(), script.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        try {
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the start-up script returns at once (its loop runs on)");
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("out")));
            List<String> wanted = List.of("ip route replace 203.0.113.254 dev eth0 scope link",
                    "ip route replace default via 203.0.113.254 dev eth0");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!(Files.exists(log) && Files.readAllLines(log).containsAll(wanted))) {
                assertTrue(System.nanoTime() < deadline, "routes kept on eth0: " + (Files.exists(log)
                        ? Files.readAllLines(log) : "ip never called") + Files.readString(dir.resolve("out")));
                Thread.sleep(50);
            }
            assertTrue(Files.readAllLines(log).stream().noneMatch(l -> l.contains("dev lo") || l.contains("dev *")),
                    Files.readAllLines(log).toString());
        } finally {
            // The loop runs in the background in setsid's process group.
            new ProcessBuilder("kill", "-KILL", "--", "-" + p.pid()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Once the kernel has both routes, each pass of the loop only reads its route table: no {@code ip} started (a
     * process start costs tens of milliseconds in an emulated machine, each second of the whole install). Run in a
     * network namespace of its own whose table has them (a veth end with the failover address); a {@code sleep}
     * stub counts the passes.
     */
    @Test
    void theStartUpScriptStartsNoProcessWhileBothRoutesAreThere() throws Exception {
        Path log = dir.resolve("calls.log");
        Path stubs = Files.createDirectories(dir.resolve("stubs"));
        executable(stubs.resolve("ip"), "#!/bin/sh\necho \"ip $*\" >> " + log + "\nexit 0\n");
        executable(stubs.resolve("sleep"), "#!/bin/sh\necho sleep >> " + log + "\nexec /bin/sleep 0.05\n");
        Path cmdline = Files.writeString(dir.resolve("cmdline"), "auto=true " + GATEWAY_ARG + " --- quiet\n");
        Path script = resource("onlink-gateway.sh");
        Process p = new ProcessBuilder("setsid", "unshare", "-m", "-n", "--propagation", "private", "--", "sh", "-c",
                "mount --bind \"$1\" /proc/cmdline && mount -t sysfs none /sys"
                        + " && /bin/ip link add eth0 type veth peer name peer0 && /bin/ip link set peer0 up"
                        + " && /bin/ip link set eth0 up && /bin/ip addr add 198.51.100.7/32 dev eth0"
                        + " && /bin/ip route add 203.0.113.254 dev eth0 scope link"
                        + " && /bin/ip route add default via 203.0.113.254 dev eth0"
                        + " && PATH=\"$2:$PATH\" exec busybox sh \"$3\"",
                "sh", cmdline.toString(), stubs.toString(), script.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        try {
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the start-up script returns at once (its loop runs on)");
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("out")));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!(Files.exists(log) && Files.readAllLines(log).stream().filter("sleep"::equals).count() >= 3)) {
                assertTrue(System.nanoTime() < deadline, "three passes of the loop: " + (Files.exists(log)
                        ? Files.readAllLines(log) : "none") + Files.readString(dir.resolve("out")));
                Thread.sleep(50);
            }
            assertEquals(List.of(), Files.readAllLines(log).stream().filter(l -> !l.equals("sleep")).toList(),
                    "no ip started while the routes are there");
        } finally {
            new ProcessBuilder("kill", "-KILL", "--", "-" + p.pid()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theIpWrapperAddsTheRoutesRightAfterAnAddressAndIsBusyboxsIpOtherwise() throws Exception {
        assertEquals(List.of("ip addr add 198.51.100.7/32 dev ens3", "ip route replace 203.0.113.254 dev ens3 scope link",
                "ip route replace default via 203.0.113.254 dev ens3"),
                wrapper("auto=true " + GATEWAY_ARG, "addr", "add", "198.51.100.7/32", "dev", "ens3"));
        assertEquals(List.of("ip link set ens3 up"), wrapper("auto=true " + GATEWAY_ARG, "link", "set", "ens3", "up"));
        assertEquals(List.of("ip addr add 10.0.0.5/24 dev ens3"),
                wrapper("auto=true", "addr", "add", "10.0.0.5/24", "dev", "ens3"), "a VM without a failover IP");
        assertEquals(List.of("ip addr add 198.51.100.7/32 dev ens3"),
                wrapper("virtfleet/onlink-gateway=1.2.3.4;reboot", "addr", "add", "198.51.100.7/32", "dev", "ens3"),
                "no gateway from a value that is not an address");
    }

    /** What busybox's ip was asked when the wrapper ran with {@code args}. */
    private List<String> wrapper(String kernelCommandLine, String... args) throws Exception {
        Path log = dir.resolve("wrapper.log");
        Files.deleteIfExists(log);
        // busybox itself is replaced by the stub in the namespace: the wrapper calls /bin/busybox ip.
        Path stub = executable(dir.resolve("busybox-stub"), "#!/bin/sh\necho \"$*\" >> " + log + "\nexit 0\n");
        Path cmdline = Files.writeString(dir.resolve("cmdline"), kernelCommandLine + "\n");
        Path busybox = Path.of("/bin/busybox").toRealPath();
        List<String> argv = new java.util.ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "--", "sh",
                "-c", "mount --bind \"$1\" /proc/cmdline && mount --bind \"$2\" \"$3\" && shift 3 && exec sh \"$@\"",
                "sh", cmdline.toString(), stub.toString(), busybox.toString(), resource("ip-then-onlink.sh").toString()));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), Files.readString(dir.resolve("out")));
        return Files.readAllLines(log);
    }

    private Path resource(String name) throws IOException {
        try (InputStream in = InstallerHook.class.getResourceAsStream(name)) {
            return Files.write(dir.resolve(name), in.readAllBytes());
        }
    }

    private static Path executable(Path file, String text) throws IOException {
        Files.writeString(file, text, StandardCharsets.US_ASCII);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }
}
