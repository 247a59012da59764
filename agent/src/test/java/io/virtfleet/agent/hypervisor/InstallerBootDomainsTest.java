package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Domains that boot the Debian installer, on a libvirt test-driver node: after the installer package was upgraded
 * under a running agent the next start boots an initrd made from the new Debian initrd (never the new kernel with
 * the old initrd's modules); a replica names this host's installer files, whatever its home host's are.
 */
class InstallerBootDomainsTest {
    @TempDir
    Path dir;

    private InstallerFiles installer;
    private LibvirtHypervisor hypervisor;
    private Domains domains;

    @BeforeEach
    void host() throws Exception {
        Path debian = Files.createDirectories(dir.resolve("debian"));
        Files.write(debian.resolve("linux"), new byte[] {1, 2, 3});
        Files.writeString(debian.resolve("initrd.gz"), "debian's initrd");
        Path images = Files.createDirectories(dir.resolve("images"));
        installer = InstallerFiles.prepare(debian, images.resolve(".virtfleet-installer"));
        Path node = dir.resolve("node.xml");
        Files.writeString(node, "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>"
                + "<active>2</active><mhz>2000</mhz></cpu><memory>8388608</memory></node>");
        Path state = Files.createDirectories(dir.resolve("state"));
        hypervisor = new LibvirtHypervisor("test://" + node, DefinitionLedger.load(state), Duration.ofMillis(200));
        domains = new Domains(hypervisor, images, installer, () -> { });
    }

    private static String installing(String name, String kernel, String initrd) {
        return "<domain type='test'><name>" + name + "</name><uuid>0f8fad5b-d9cb-469f-a165-70867728950e</uuid>"
                + "<memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type>hvm</type><kernel>" + kernel + "</kernel><initrd>"
                + initrd + "</initrd><cmdline>auto=true</cmdline></os></domain>";
    }

    @Test
    void aDomainBootingTheInstallerStartsWithTheInitrdOfTheDebianFilesThereNow() throws Exception {
        String xml = installing("web", installer.kernel().toString(), installer.initrd().toString());
        domains.define("web", xml, false, false).get(30, TimeUnit.SECONDS);

        // The package's next version: another initrd, with dpkg's (older) time.
        Files.writeString(installer.debianInitrd(), "debian's next initrd");
        Files.setLastModifiedTime(installer.debianInitrd(), FileTime.fromMillis(86_400_000L));
        domains.setRunning("web", true, Duration.ZERO).get(30, TimeUnit.SECONDS);

        String booted = new String(Files.readAllBytes(installer.initrd()), StandardCharsets.ISO_8859_1);
        assertTrue(booted.startsWith("debian's next initrd"), "the initrd was made again from Debian's new one");
    }

    @Test
    void aReplicaOfAnInstallingVmNamesThisHostsInstallerFilesWhileAHomeDefinitionMustAlready() throws Exception {
        String home = installing("web", "/srv/images/linux", "/srv/images/.virtfleet-installer/initrd.gz");
        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> domains.define("web", home, false, false));
        assertTrue(refused.getMessage().contains("the installer's kernel of this host"), refused.getMessage());

        domains.define("web", home, false, true).get(30, TimeUnit.SECONDS);
        String defined = hypervisor.withConnection(c -> c.domainLookupByName("web").getXMLDesc(0));
        assertTrue(defined.contains("<kernel>" + installer.kernel() + "</kernel>")
                && defined.contains("<initrd>" + installer.initrd() + "</initrd>"), defined);
    }

    @Test
    void whileTheInitrdIsBeingMadeTheAgentsOtherLibvirtCallsGoOn() throws Exception {
        domains.define("web", installing("web", installer.kernel().toString(), installer.initrd().toString()), false, false)
                .get(30, TimeUnit.SECONDS);
        java.util.concurrent.CompletableFuture<?> start;
        synchronized (InstallerFiles.PREPARING) {
            start = domains.setRunning("web", true, Duration.ZERO);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!waitingInRefresh()) {
                assertTrue(System.nanoTime() < deadline, "the start reached the initrd's preparation");
                Thread.sleep(10);
            }
            // The start waits for the preparation: libvirt must still answer the agent's other calls (the poller,
            // the heartbeat's domain list), which wait for the connection's lock.
            java.util.concurrent.CompletableFuture<Integer> other = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return hypervisor.withConnection(c -> c.numOfDefinedDomains());
                } catch (org.libvirt.LibvirtException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            assertEquals(1, other.get(30, TimeUnit.SECONDS), "answered while the initrd was being made");
        }
        start.get(30, TimeUnit.SECONDS);
    }

    private static boolean waitingInRefresh() {
        return Thread.getAllStackTraces().entrySet().stream().anyMatch(e -> e.getKey().getState() == Thread.State.BLOCKED
                && java.util.Arrays.stream(e.getValue()).anyMatch(f -> f.getClassName().equals(InstallerFiles.class.getName())
                        && f.getMethodName().equals("refresh")));
    }
}
