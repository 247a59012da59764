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
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import io.virtfleet.common.install.InstallToken;
import io.virtfleet.common.security.FleetIdentity;
import org.eclipse.jgit.lib.Ref;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.eclipse.jgit.treewalk.TreeWalk;
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
            + InstallToken.PLACEHOLDER + "/preseed\\.cfg");

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

    /** The preseed URL on the definition's kernel command line: the token withheld. */
    private static String preseedUrl(String xml) {
        Matcher m = PRESEED_URL.matcher(xml);
        assertTrue(m.find(), "a preseed URL with the placeholder for the VM's token on its command line: " + xml);
        return m.group();
    }

    /** The live token the home host is sent with the VM's definition (and only it). */
    private static String withheldToken(PxeFleet fleet) {
        return fleet.fleet.controller().installs().withheldToken("web").orElseThrow();
    }

    /**
     * The token is in no version of any file of the definitions repository, which is all that hosts (replicas) and
     * operators (git clone over the git server) can fetch of a definition; nor in what a viewer's vm show prints.
     */
    private void assertWithheld(PxeFleet fleet, String token) throws Exception {
        Path root = fleet.fleet.controller().vmStore().repo().root();
        int blobs = 0;
        try (Repository repo = new FileRepositoryBuilder().setGitDir(root.resolve(".git").toFile()).setMustExist(true).build();
             RevWalk walk = new RevWalk(repo)) {
            for (Ref ref : repo.getRefDatabase().getRefs()) {
                walk.markStart(walk.parseCommit(ref.getObjectId()));
            }
            for (RevCommit commit : walk) {
                assertFalse(commit.getFullMessage().contains(token), commit.getFullMessage());
                try (TreeWalk files = new TreeWalk(repo)) {
                    files.addTree(commit.getTree());
                    files.setRecursive(true);
                    while (files.next()) {
                        String text = new String(repo.open(files.getObjectId(0)).getBytes(), StandardCharsets.UTF_8);
                        assertFalse(text.contains(token), "the token in " + files.getPathString() + " of " + commit.name());
                        blobs++;
                    }
                }
            }
        }
        assertTrue(blobs > 0, "the repository was read");
        try (var files = Files.walk(root)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (Files.isRegularFile(f) && !f.toString().contains("/.git/objects/")) {
                    assertFalse(Files.readString(f, StandardCharsets.ISO_8859_1).contains(token), f.toString());
                }
            }
        }
        Path viewer = Files.createTempFile(work, "viewer", ".pem");
        Files.delete(viewer);
        fleet.fleet.controller().pki().writeOperatorBundle("viewer", FleetIdentity.Role.VIEWER, Duration.ofDays(1), viewer);
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        assertEquals(0, io.virtfleet.controller.cli.VirtfleetCli.run(new java.io.PrintWriter(out), new java.io.PrintWriter(err),
                "--controller", fleet.fleet.controllerEndpoint().toString(), "--credentials", viewer.toString(),
                "-o", "json", "vm", "show", "web"), err.toString());
        assertTrue(out.toString().contains("\"web\""), out.toString());
        assertFalse(out.toString().contains(token), out.toString());
    }

    @Test
    void theDomainBootsTheHostsInstallerUntilDoneThenItsDiskAndAgainAfterAReinstall() throws Exception {
        InstallerFiles debian = new InstallerFiles(InstallerFiles.PACKAGE_DIRECTORY);
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        Path tftp = work.resolve("tftp");
        try (PxeFleet fleet = new PxeFleet(work, tftp, "127.0.0.1", BootMode.KERNEL, debian.directory())) {
            InstallerFiles prepared = fleet.hostInstaller(debian.directory());
            assertTrue(installerLine(fleet).endsWith(debian.kernel() + ", " + prepared.initrd()), installerLine(fleet));
            java.util.List<String> steps = new java.util.ArrayList<>();
            fleet.operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build())
                    .forEachRemaining(p -> steps.add(p.getDetail()));
            assertTrue(steps.get(steps.size() - 1).endsWith(" and installs itself from profile api (kernel boot;"
                    + " virtfleet vm show web follows it)"), steps.toString());
            String xml = definition(fleet);
            assertTrue(xml.contains("<kernel>" + debian.kernel() + "</kernel>"), xml);
            assertTrue(xml.contains("<initrd>" + prepared.initrd() + "</initrd>"), xml);
            assertTrue(xml.contains("<on_reboot>destroy</on_reboot>"), "the installer's reboot stops the domain: " + xml);
            assertFalse(xml.contains("<boot order=\"2\"/>"), "no network boot: " + xml);
            assertFalse(Files.exists(tftp.resolve("pxelinux.cfg")), "nothing written for PXE");
            String url = preseedUrl(xml);
            assertTrue(xml.contains("auto=true priority=critical " + url + " hostname=web"), xml);
            String token = withheldToken(fleet);
            assertWithheld(fleet, token);
            String base = url.substring("preseed/url=".length(), url.length() - "preseed.cfg".length())
                    .replace(InstallToken.PLACEHOLDER, token);

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
            assertTrue(fleet.fleet.controller().installs().withheldToken("web").isEmpty(), "and is kept no more");

            fleet.operator.reinstallVm(ReinstallVmRequest.newBuilder().setName("web").build());
            String again = withheldToken(fleet);
            assertNotEquals(token, again, "a new token");
            assertEquals(url, preseedUrl(definition(fleet)), "withheld again");
            assertWithheld(fleet, again);
            assertTrue(definition(fleet).contains("<kernel>" + debian.kernel() + "</kernel>"));
            assertEquals(200, get(base.replace(token, again) + "preseed.cfg"));
            assertEquals(403, get(base + "preseed.cfg"), "the old token stays dead");
        }
    }

    @Test
    void aDeleteThatTheReconcilerFinishesEndsTheInstallToo() throws Exception {
        InstallerFiles debian = new InstallerFiles(InstallerFiles.PACKAGE_DIRECTORY);
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        io.virtfleet.controller.testkit.RefuseOnCall refuse =
                new io.virtfleet.controller.testkit.RefuseOnCall(io.virtfleet.proto.v1.AgentGrpc.getUndefineDomainMethod());
        try (PxeFleet fleet = new PxeFleet(work, work.resolve("tftp"), "127.0.0.1", BootMode.KERNEL, debian.directory(),
                java.util.List.of(refuse))) {
            fleet.operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build())
                    .forEachRemaining(p -> { });
            String url = preseedUrl(definition(fleet));
            String token = withheldToken(fleet);
            String preseed = url.substring("preseed/url=".length()).replace(InstallToken.PLACEHOLDER, token);
            assertEquals(200, get(preseed));

            refuse.refuseNext(1); // the host does not answer the operator's delete: the reconciler finishes it
            StatusRuntimeException unfinished = assertThrows(StatusRuntimeException.class, () -> fleet.operator.deleteVm(
                    io.virtfleet.proto.v1.DeleteVmRequest.newBuilder().setName("web").setDeleteDisk(true).build())
                    .forEachRemaining(p -> { }));
            assertEquals(Status.Code.UNAVAILABLE, unfinished.getStatus().getCode(), unfinished.toString());
            assertEquals(1, refuse.refused());
            fleet.fleet.controller().reconciler().reconcileAll().get(2, java.util.concurrent.TimeUnit.MINUTES);

            assertEquals(0, fleet.operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsCount(), "deleted");
            assertTrue(fleet.fleet.controller().installs().withheldToken("web").isEmpty(), "its withheld token is gone");
            assertEquals(403, get(preseed), "its install token is dead");
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
