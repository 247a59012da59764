package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.testkit.KilledAtExit;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Debian installer, PXE-booted by a real QEMU (TCG) guest with the VM's MAC, finds the per-MAC config the
 * controller wrote at {@code vm create} and fetches that VM's preseed, with its profile, from the controller's
 * install server. QEMU's user-mode network provides DHCP and TFTP (from the test's TFTP root, prepared from
 * Debian's debian-installer-12-netboot-amd64 package) and reaches the controller on loopback as 10.0.2.2. The
 * embedded host's libvirt is a test driver, so the test starts the guest itself. Stops at the preseed fetch (about
 * 80 s under TCG) and the scripts its early command fetches: the rest of an install needs a Debian mirror.
 */
class PxeInstallQemuTest {
    private static final Path NETBOOT = Path.of("/usr/lib/debian-installer/images/12/amd64/text");

    @TempDir
    Path work;

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void theRealInstallerBootsFromTheControllersPerMacConfigAndFetchesItsVmsPreseed() throws Exception {
        assertTrue(Files.isRegularFile(NETBOOT.resolve("pxelinux.0")),
                "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        Path tftp = KernelBootRig.tftpRoot(Files.createDirectories(work.resolve("tftp")));
        List<String> fetched = new CopyOnWriteArrayList<>();
        Logger installs = Logger.getLogger(Installs.class.getName());
        Handler watch = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage().contains(" fetched its preseed ") || r.getMessage().contains(" fetched the post-install script ")) {
                    fetched.add(r.getMessage()); // slf4j hands JUL the message already formatted
                }
            }

            @Override
            public void flush() { }

            @Override
            public void close() { }
        };
        installs.addHandler(watch);
        // Whatever level an earlier test of this JVM left on the root logger (the embedded demo quiets it), the
        // controller's log line about this VM must reach the watch.
        java.util.logging.Level level = installs.getLevel();
        installs.setLevel(java.util.logging.Level.INFO);
        Process qemu = null;
        try (PxeFleet pxe = new PxeFleet(work, tftp, "10.0.2.2")) {
            long t0 = System.nanoTime();
            pxe.operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build())
                    .forEachRemaining(p -> { });
            long created = System.nanoTime();
            assertTrue(Files.exists(pxe.pxeFile("web")));

            Path console = work.resolve("console.log");
            qemu = KilledAtExit.track(new ProcessBuilder(List.of("qemu-system-x86_64", "-machine", "pc", "-accel", "tcg,tb-size=128",
                    "-cpu", "max", "-smp", "1", "-m", "1024", "-nographic", "-boot", "n",
                    "-netdev", "user,id=n0,tftp=" + tftp + ",bootfile=pxelinux.0",
                    "-device", "virtio-net-pci,netdev=n0,mac=" + DomainIdentity.lanMac("web")))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true).redirectOutput(console.toFile()).start());
            long booted = System.nanoTime();
            Vm vm = null;
            while (System.nanoTime() - booted < TimeUnit.MINUTES.toNanos(6)) {
                vm = pxe.operator.getVm(GetVmRequest.newBuilder().setName("web").build());
                if (vm.getInstallPhase() == VmInstallPhase.VM_INSTALL_PHASE_PRESEED_FETCHED) {
                    break;
                }
                if (!qemu.isAlive()) {
                    fail("qemu exited " + qemu.exitValue() + ":\n" + tail(console));
                }
                Thread.sleep(500);
            }
            long fetchedAt = System.nanoTime();
            assertEquals(VmInstallPhase.VM_INSTALL_PHASE_PRESEED_FETCHED, vm.getInstallPhase(),
                    "no preseed fetch within 6 min; console:\n" + tail(console));
            assertEquals("api", vm.getInstallProfile());
            assertTrue(!fetched.isEmpty() && fetched.get(0).startsWith("VM web fetched its preseed (profile api,"),
                    "the controller served web's preseed, profile api: " + fetched);
            // Then the preseed's early command fetches the profiles' scripts, base's first.
            while (fetched.size() < 3 && System.nanoTime() - booted < TimeUnit.MINUTES.toNanos(7) && qemu.isAlive()) {
                Thread.sleep(250);
            }
            assertEquals(List.of("VM web fetched the post-install script of profile base",
                    "VM web fetched the post-install script of profile api"), fetched.subList(1, Math.min(3, fetched.size())),
                    "the early command fetched base's and api's scripts; console:\n" + tail(console));
            // Numbers for BENCHMARKS.md: our steps (create through the API) and the boot (firmware, pxelinux, kernel,
            // installer up to its preseed request, under TCG).
            System.out.printf(Locale.ROOT, "pxe install: create %.1f s, qemu start to preseed request %.1f s, total %.1f s%n",
                    (created - t0) / 1e9, (fetchedAt - booted) / 1e9, (fetchedAt - t0) / 1e9);
        } finally {
            installs.removeHandler(watch);
            installs.setLevel(level);
            if (qemu != null) {
                qemu.destroy();
                if (!qemu.waitFor(10, TimeUnit.SECONDS)) {
                    qemu.destroyForcibly().waitFor();
                }
            }
        }
    }

    private static String tail(Path console) throws Exception {
        if (!Files.exists(console)) {
            return "(no console output)";
        }
        List<String> lines = Files.readAllLines(console, java.nio.charset.StandardCharsets.ISO_8859_1);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }
}
