package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Debian's installer package upgraded under a running agent: the next start of a domain booting the installer
 * boots an initrd made from the new Debian initrd (never the new kernel with the old initrd's modules), on a
 * libvirt test-driver node.
 */
class InstallerRefreshTest {
    @TempDir
    Path dir;

    @Test
    void aDomainBootingTheInstallerStartsWithTheInitrdOfTheDebianFilesThereNow() throws Exception {
        Path debian = Files.createDirectories(dir.resolve("debian"));
        Files.write(debian.resolve("linux"), new byte[] {1, 2, 3});
        Files.writeString(debian.resolve("initrd.gz"), "debian's initrd");
        Path images = Files.createDirectories(dir.resolve("images"));
        InstallerFiles installer = InstallerFiles.prepare(debian, images.resolve(".virtfleet-installer"));
        Path node = dir.resolve("node.xml");
        Files.writeString(node, "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>"
                + "<active>2</active><mhz>2000</mhz></cpu><memory>8388608</memory></node>");
        Path state = Files.createDirectories(dir.resolve("state"));
        LibvirtHypervisor hypervisor = new LibvirtHypervisor("test://" + node, DefinitionLedger.load(state),
                Duration.ofMillis(200));
        Domains domains = new Domains(hypervisor, images, installer, () -> { });
        String xml = "<domain type='test'><name>web</name><memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type>hvm</type>"
                + "<kernel>" + installer.kernel() + "</kernel><initrd>" + installer.initrd() + "</initrd>"
                + "<cmdline>auto=true</cmdline></os></domain>";
        domains.define("web", xml, false, false).get(30, TimeUnit.SECONDS);

        // The package's next version: another initrd, with dpkg's (older) time.
        Files.writeString(debian.resolve("initrd.gz"), "debian's next initrd");
        Files.setLastModifiedTime(debian.resolve("initrd.gz"), FileTime.fromMillis(86_400_000L));
        domains.setRunning("web", true, Duration.ZERO).get(30, TimeUnit.SECONDS);

        String booted = new String(Files.readAllBytes(installer.initrd()), StandardCharsets.ISO_8859_1);
        assertTrue(booted.startsWith("debian's next initrd"), "the initrd was made again from Debian's new one");
    }
}
