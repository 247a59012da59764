package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.InstallerFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failover-IP VM's real Debian installer, PXE-booted by a real libvirtd (QEMU/TCG) on the host's public bridge:
 * the firmware gets pxelinux from a PXE service that answers PXE firmware only, the VM's pxelinux config (written by
 * the controller) loads virtfleet's hook as a second initrd and gives the installer its /32 and no gateway, and the
 * installer, asking no DHCP at all, reaches the controller through the host's namespace playing OVH's .254 router:
 * it fetches its preseed and its profiles' scripts.
 */
class FailoverPxeBootQemuTest {
    @TempDir
    Path work;

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void aFailoverVmsPxeBootedInstallerFetchesItsPreseedAndScriptsWithoutAskingDhcp() throws Exception {
        assertTrue(Files.isRegularFile(InstallerFiles.PACKAGE_DIRECTORY.resolve("../../pxelinux.0")),
                "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        try (KernelBootRig rig = KernelBootRig.failoverPxe(work)) {
            rig.probePublicNetwork();
            rig.pxeFirmwareService();
            long t0 = System.nanoTime();
            var spec = KernelBootRig.failoverVm("www", "api");
            rig.create(spec);
            long created = System.nanoTime();

            String mac = spec.getNetwork().getFailover().getMac();
            String config = Files.readString(rig.tftp.resolve("pxelinux.cfg").resolve("01-" + mac.replace(':', '-')));
            for (String arg : List.of("initrd=debian-installer/amd64/initrd.gz,virtfleet/installer-hook.cpio",
                    "netcfg/disable_autoconfig=true", "netcfg/get_ipaddress=" + KernelBootRig.FAILOVER_IP,
                    "netcfg/get_netmask=255.255.255.255", "netcfg/get_gateway=none",
                    "virtfleet/onlink-gateway=203.0.113.254")) {
                assertTrue(config.contains(arg), arg + " in " + config);
            }
            assertTrue(Files.isRegularFile(rig.tftp.resolve("virtfleet/installer-hook.cpio")));

            long deadline = created + TimeUnit.MINUTES.toNanos(7);
            rig.awaitPreseedFetched("www", deadline);
            long preseedAt = System.nanoTime();
            List<String> scripts = rig.awaitScripts("www", 2, deadline);
            assertTrue(scripts.get(0).endsWith("profile base") && scripts.get(1).endsWith("profile api"), scripts.toString());
            List<String> asked = rig.dhcpAskedBy(mac);
            assertFalse(asked.isEmpty(), "the firmware asked the PXE service:\n" + rig.diagnostics());
            assertTrue(asked.stream().allMatch(c -> c.startsWith("PXEClient")),
                    "only the firmware asked DHCP, not the installer: " + asked);
            System.out.printf(Locale.ROOT, "failover pxe install: create %.2f s, domain start to preseed request"
                    + " %.1f s, scripts %.1f s later%n", (created - t0) / 1e9, (preseedAt - created) / 1e9,
                    (System.nanoTime() - preseedAt) / 1e9);
        }
    }
}
