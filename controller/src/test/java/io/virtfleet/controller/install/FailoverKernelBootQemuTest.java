package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.InstallerFiles;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;

/**
 * A failover-IP VM's real Debian installer, booted directly by a real libvirtd (QEMU/TCG) on a network with no DHCP
 * server anywhere, as at OVH: only its /32, the host's public address with .254 as gateway outside it, and that
 * gateway (the host's namespace, playing OVH's router) towards the controller. The installer gets the /32 on its
 * kernel command line and the routes from virtfleet's start-up hook in the host's installer initrd; it fetches its
 * preseed and its profiles' scripts from the controller. (The rest of an install needs a Debian mirror.)
 */
class FailoverKernelBootQemuTest {
    @TempDir
    Path work;

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void aFailoverVmsInstallerFetchesItsPreseedAndScriptsWithNoDhcpAnywhere() throws Exception {
        assertTrue(new InstallerFiles(InstallerFiles.PACKAGE_DIRECTORY).available(),
                "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        try (KernelBootRig rig = KernelBootRig.failover(work)) {
            rig.probePublicNetwork();
            long t0 = System.nanoTime();
            rig.create(KernelBootRig.failoverVm("www", "api"));
            long created = System.nanoTime();

            Connect libvirt = rig.rack.host(KernelBootRig.HOST).libvirt();
            try {
                String xml = libvirt.domainLookupByName("www").getXMLDesc(0);
                String cmdline = xml.substring(xml.indexOf("<cmdline>"), xml.indexOf("</cmdline>"));
                for (String arg : List.of("netcfg/disable_autoconfig=true",
                        "netcfg/get_ipaddress=" + KernelBootRig.FAILOVER_IP, "netcfg/get_netmask=255.255.255.255",
                        "netcfg/get_gateway=none", "virtfleet/onlink-gateway=203.0.113.254")) {
                    assertTrue(cmdline.contains(arg), arg + " in " + cmdline);
                }
            } finally {
                libvirt.close();
            }

            long deadline = created + TimeUnit.MINUTES.toNanos(7);
            rig.awaitPreseedFetched("www", deadline);
            long preseedAt = System.nanoTime();
            List<String> scripts = rig.awaitScripts("www", 2, deadline);
            assertTrue(scripts.get(0).endsWith("profile base") && scripts.get(1).endsWith("profile api"), scripts.toString());
            System.out.printf(Locale.ROOT, "failover kernel boot install: create %.2f s, domain start to preseed request"
                    + " %.1f s, scripts %.1f s later%n", (created - t0) / 1e9, (preseedAt - created) / 1e9,
                    (System.nanoTime() - preseedAt) / 1e9);
        }
    }
}
