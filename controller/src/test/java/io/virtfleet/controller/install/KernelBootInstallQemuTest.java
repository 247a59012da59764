package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;

/**
 * The real Debian installer, booted directly by a real libvirtd (QEMU/TCG) from the kernel and initrd its host's agent
 * reports, with the VM's preseed URL on the kernel command line: it takes an address from the LAN's DHCP, fetches that
 * VM's preseed (profile api) from the controller's install server and then the profiles' post-install scripts, base's
 * first. Everything is real but the site's LAN services, which the test plays with dnsmasq (see {@link KernelBootRig}).
 * The rest of an install needs a Debian mirror: the test then calls back as the late command would and stops the
 * domain as the installer's reboot does; the controller starts it again from its disk at once.
 */
class KernelBootInstallQemuTest {
    private static final int VIR_DOMAIN_XML_INACTIVE = 2;
    @TempDir
    Path work;

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void theRealInstallerBootsFromItsHostsKernelAndFetchesItsVmsPreseedAndScripts() throws Exception {
        InstallerFiles debian = new InstallerFiles(InstallerFiles.PACKAGE_DIRECTORY);
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        try (KernelBootRig rig = new KernelBootRig(work)) {
            long t0 = System.nanoTime();
            rig.create(KernelBootRig.vm("web", "api"));
            long created = System.nanoTime();
            rig.siteNetwork(10);

            Connect libvirt = rig.rack.host(KernelBootRig.HOST).libvirt();
            try {
                Domain web = libvirt.domainLookupByName("web");
                assertEquals(DomainInfo.DomainState.VIR_DOMAIN_RUNNING, web.getInfo().state);
                String xml = web.getXMLDesc(0);
                // Debian's kernel; the initrd the agent prepared from Debian's, with virtfleet's start-up hook.
                String initrd = rig.operator.getHost(io.virtfleet.proto.v1.GetHostRequest.newBuilder()
                        .setName(KernelBootRig.HOST).build()).getReport().getResources().getInstallerInitrd();
                assertTrue(initrd.endsWith("/.virtfleet-installer/initrd.gz") && !initrd.equals(debian.initrd().toString()), initrd);
                assertTrue(xml.contains("<kernel>" + debian.kernel() + "</kernel>")
                        && xml.contains("<initrd>" + initrd + "</initrd>"), xml);
                assertTrue(xml.contains("preseed/url=http://"), xml);
            } finally {
                libvirt.close();
            }

            long deadline = created + TimeUnit.MINUTES.toNanos(7);
            rig.awaitPreseedFetched("web", deadline);
            long preseedAt = System.nanoTime();
            assertEquals(1, rig.controllerSaid("VM web fetched its preseed (profile api,").size(), rig.diagnostics());
            // The preseed's early command fetches the scripts at once, base's first, then the VM's profile's.
            List<String> scripts = rig.awaitScripts("web", 2, deadline);
            long scriptsAt = System.nanoTime();
            assertTrue(scripts.get(0).endsWith("profile base") && scripts.get(1).endsWith("profile api"), scripts.toString());
            System.out.printf(Locale.ROOT, "kernel boot install: create %.2f s, domain start to preseed request %.1f s,"
                    + " scripts %.1f s later%n", (created - t0) / 1e9, (preseedAt - created) / 1e9, (scriptsAt - preseedAt) / 1e9);

            // What the end of the install does, without its 10 minutes: the late command's callback, then the
            // installer's reboot, which stops the domain (on_reboot destroy) instead of booting the installer again.
            String url = rig.installBase("web");
            HttpClient http = HttpClient.newHttpClient();
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(url + "done")).GET().build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode());
            libvirt = rig.rack.host(KernelBootRig.HOST).libvirt();
            try {
                Domain web = libvirt.domainLookupByName("web");
                assertTrue(web.getXMLDesc(0).contains("<on_reboot>destroy</on_reboot>"), "the running installer stops at its reboot");
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (web.getXMLDesc(VIR_DOMAIN_XML_INACTIVE).contains("<kernel>") && System.nanoTime() < until) {
                    Thread.sleep(100);
                }
                String next = web.getXMLDesc(VIR_DOMAIN_XML_INACTIVE);
                assertTrue(!next.contains("<kernel>") && next.contains("<on_reboot>restart</on_reboot>"),
                        "the domain's next start boots its disk: " + next);
                web.destroy(); // as the installer's reboot does
                long stoppedAt = System.nanoTime();
                // The controller starts it again from its disk as soon as the host reports it stopped (the rig has
                // no periodic reconciler pass: only the install's watch can do it). The window outlasts a start
                // step's deadline (1 min) and the watch's retry after a failed start.
                until = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
                while (web.getInfo().state != DomainInfo.DomainState.VIR_DOMAIN_RUNNING && System.nanoTime() < until) {
                    Thread.sleep(250);
                }
                assertEquals(DomainInfo.DomainState.VIR_DOMAIN_RUNNING, web.getInfo().state, rig.diagnostics());
                System.out.printf(Locale.ROOT, "kernel boot install: stopped at its end, running again from its disk"
                        + " %.1f s later%n", (System.nanoTime() - stoppedAt) / 1e9);
                // The watch logs once the start step has returned, a moment after libvirt shows the domain running.
                until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (rig.controllerSaid("VM web stopped at the end of its install: started again").isEmpty()
                        && System.nanoTime() < until) {
                    Thread.sleep(100);
                }
                assertEquals(1, rig.controllerSaid("VM web stopped at the end of its install: started again").size(),
                        rig.diagnostics());
                String live = web.getXMLDesc(0);
                assertTrue(!live.contains("<kernel>") && !live.contains("preseed/url"), "running from its disk: " + live);
            } finally {
                libvirt.close();
            }
            assertEquals(VmInstallPhase.VM_INSTALL_PHASE_INSTALLED,
                    rig.operator.getVm(GetVmRequest.newBuilder().setName("web").build()).getInstallPhase());
        }
    }
}
