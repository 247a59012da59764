package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Direct kernel boot installs (boot-mode kernel) through a running fleet: the VM's definition boots the installer's
 * kernel and initrd that its host's agent reports, with the VM's preseed URL on the command line and a reboot that
 * stops the domain; the done callback redefines it to boot its disk; a reinstall boots the installer again with a
 * new token; a host without the installer's files is no place for such a VM, and nothing is left of the create. One embedded host (test
 * driver), its network in a namespace (root needed); the installer's files are Debian's package's.
 */
class KernelBootFleetTest {
    private static final Pattern PRESEED_URL = Pattern.compile("preseed/url=(http://127\\.0\\.0\\.1:\\d+)/install/web/"
            + "([A-Za-z0-9_-]{43})/preseed\\.cfg");

    @TempDir
    Path work;

    private final HttpClient http = HttpClient.newHttpClient();

    private int get(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private static String definition(PxeFleet fleet) throws java.io.IOException {
        return fleet.fleet.controller().vmStore().domainXml("web").orElseThrow();
    }

    /** The Installer line of {@code virtfleet host show} for the fleet's one host. */
    private static String installerLine(PxeFleet fleet) {
        String host = fleet.fleet.nodes().get(0).name();
        String[] args = {"--controller", fleet.fleet.controllerEndpoint().toString(), "--credentials",
                fleet.fleet.adminCredentials().toString(), "host", "show", host};
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        assertEquals(0, io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(out),
                new java.io.PrintWriter(err), args), err.toString());
        return out.toString().lines().filter(l -> l.startsWith("Installer:")).findFirst().orElse(out.toString());
    }

    /** The preseed URL on the definition's kernel command line. */
    private static String preseedUrl(String xml) {
        Matcher m = PRESEED_URL.matcher(xml);
        assertTrue(m.find(), "a preseed URL with the VM's token on its command line: " + xml);
        return m.group();
    }

    @Test
    void theDomainBootsTheHostsInstallerUntilDoneThenItsDiskAndAgainAfterAReinstall() throws Exception {
        InstallerFiles debian = new InstallerFiles(InstallerFiles.PACKAGE_DIRECTORY);
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        Path tftp = work.resolve("tftp");
        try (PxeFleet fleet = new PxeFleet(work, tftp, "127.0.0.1", BootMode.KERNEL, debian.directory())) {
            assertTrue(installerLine(fleet).endsWith(debian.kernel() + ", " + debian.initrd()), installerLine(fleet));
            java.util.List<String> steps = new java.util.ArrayList<>();
            fleet.operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build())
                    .forEachRemaining(p -> steps.add(p.getDetail()));
            assertTrue(steps.get(steps.size() - 1).endsWith(" and installs itself from profile api (kernel boot;"
                    + " virtfleet vm show web follows it)"), steps.toString());
            String xml = definition(fleet);
            assertTrue(xml.contains("<kernel>" + debian.kernel() + "</kernel>"), xml);
            assertTrue(xml.contains("<initrd>" + debian.initrd() + "</initrd>"), xml);
            assertTrue(xml.contains("<on_reboot>destroy</on_reboot>"), "the installer's reboot stops the domain: " + xml);
            assertFalse(xml.contains("<boot order=\"2\"/>"), "no network boot: " + xml);
            assertFalse(Files.exists(tftp.resolve("pxelinux.cfg")), "nothing written for PXE");
            String url = preseedUrl(xml);
            assertTrue(xml.contains("auto=true priority=critical " + url + " hostname=web"), xml);
            String base = url.substring("preseed/url=".length(), url.length() - "preseed.cfg".length());

            assertEquals(200, get(base + "preseed.cfg"));
            assertEquals(200, get(base + "profiles/api/post-install.sh"));
            assertEquals(200, get(base + "done"));
            assertEquals(VmInstallPhase.VM_INSTALL_PHASE_INSTALLED,
                    fleet.operator.getVm(GetVmRequest.newBuilder().setName("web").build()).getInstallPhase());
            String installed = definition(fleet);
            assertFalse(installed.contains("<kernel>") || installed.contains("<initrd>") || installed.contains("<cmdline>"),
                    "the kernel boot is gone: " + installed);
            assertTrue(installed.contains("<on_reboot>restart</on_reboot>") && installed.contains("<boot order=\"1\"/>"),
                    installed);
            assertEquals(403, get(base + "preseed.cfg"), "the token died with the install");

            fleet.operator.reinstallVm(ReinstallVmRequest.newBuilder().setName("web").build());
            String again = preseedUrl(definition(fleet));
            assertNotEquals(url, again, "a new token");
            assertTrue(definition(fleet).contains("<kernel>" + debian.kernel() + "</kernel>"));
            assertEquals(200, get(again.substring("preseed/url=".length())));
        }
    }

    @Test
    void aHostWithoutTheInstallersFilesTakesNoSuchVmAndNothingIsLeft() throws Exception {
        Path empty = Files.createDirectories(work.resolve("no-installer"));
        try (PxeFleet fleet = new PxeFleet(work, work.resolve("tftp"), "127.0.0.1", BootMode.KERNEL, empty)) {
            assertTrue(installerLine(fleet).endsWith("none (no direct kernel boot installs here)"), installerLine(fleet));
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> fleet.operator.createVm(
                    CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build()).forEachRemaining(p -> { }));
            // Placement's installer filter: no host fits, and the explanation says why.
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, refused.getStatus().getCode());
            String why = refused.getStatus().getDescription();
            assertTrue(why.contains("has no Debian installer files") && why.contains("installer-dir"), why);
            assertEquals(0, fleet.operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsCount(), "no VM recorded");
            assertTrue(fleet.fleet.controller().vmStore().domainXml("web").isEmpty(), "no definition");
            assertEquals(null, fleet.fleet.controller().scheduler().claimOf("web"), "no claim left");
        }
    }
}
