package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.DomainState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Domains defined by hand (not by virtfleet) on a libvirt test-driver node, read and taken over for adoption: a
 * domain within the rules is adopted into the ledger as it is (its definition and state untouched); hostile ones
 * (a disk outside the images directory, host devices) are read with the reason they cannot be adopted, and
 * AdoptDomain refuses them (QEMU command-line passthrough).
 */
class AdoptDomainsTest {
    @TempDir
    Path dir;

    private Path images;
    private LibvirtHypervisor hypervisor;
    private Domains domains;
    private DefinitionLedger ledger;

    @BeforeEach
    void host() throws Exception {
        images = Files.createDirectories(dir.resolve("images"));
        Path node = dir.resolve("node.xml");
        Files.writeString(node, "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>"
                + "<active>2</active><mhz>2000</mhz></cpu><memory>8388608</memory></node>");
        ledger = DefinitionLedger.load(Files.createDirectories(dir.resolve("state")));
        hypervisor = new LibvirtHypervisor("test://" + node, ledger, Duration.ofMillis(200));
        domains = new Domains(hypervisor, images, () -> { });
    }

    @AfterEach
    void close() {
        domains.close();
        hypervisor.close();
    }

    /** What the runbook's helper wrote: an RBD disk, a LAN bridge, QEMU's path as libvirt keeps it. */
    private static String handMade(String name, String extraDevice, String extraRoot) {
        return "<domain type='test'" + (extraRoot.isEmpty() ? "" : " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'")
                + "><name>" + name + "</name><uuid>6b1e1f52-3c3b-4f0c-9d8e-1b0e6f3f0a11</uuid>"
                + "<memory unit='MiB'>1024</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices>"
                + "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
                + "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                + "<source protocol='rbd' name='libvirt-sata/" + name + "'/><target dev='vda' bus='virtio'/></disk>"
                + "<interface type='bridge'><mac address='52:54:00:aa:bb:01'/><source bridge='vxbr10'/>"
                + "<model type='virtio'/></interface>" + extraDevice + "</devices>" + extraRoot + "</domain>";
    }

    private void defineByHand(String xml, boolean start) throws Exception {
        hypervisor.withConnection(c -> {
            var d = c.domainDefineXML(xml);
            if (start) {
                d.create();
            }
            d.free();
            return null;
        });
    }

    private String libvirtDefinition(String name) throws Exception {
        return hypervisor.withConnection(c -> c.domainLookupByName(name).getXMLDesc(LibvirtHypervisor.XML_INACTIVE));
    }

    @Test
    void aRunbookDomainIsAdoptedAsItIsWhileItRuns() throws Exception {
        defineByHand(handMade("git", "", ""), true);
        String before = libvirtDefinition("git");

        Domains.Read read = domains.read("git").get(30, TimeUnit.SECONDS);
        assertEquals("", read.refusal(), read.refusal());
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, read.state());
        assertFalse(read.xml().contains("<emulator>"), "the host's default QEMU is left out: " + read.xml());
        assertTrue(read.xml().contains("libvirt-sata/git") && read.xml().contains("vxbr10"), read.xml());
        assertEquals(read.xml(), domains.read("git").get(30, TimeUnit.SECONDS).xml(), "the same text on every read");

        Domains.Step step = domains.adopt("git", read.xml(), true, false).get(30, TimeUnit.SECONDS);
        assertTrue(step.changed(), step.detail());
        DefinitionLedger.Entry entry = ledger.get("git").orElseThrow();
        assertEquals(Sha256.hex(read.xml()), entry.sourceSha256(), "in step with the repository's text");
        assertEquals(Sha256.hex(before), entry.definedSha256(), "libvirt's definition as it was: not changed by hand");
        assertTrue(entry.autostart());
        assertFalse(entry.replica());
        assertEquals(before, libvirtDefinition("git"), "nothing was defined again");
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, domains.read("git").get(30, TimeUnit.SECONDS).state());

        assertFalse(domains.adopt("git", read.xml(), true, false).get(30, TimeUnit.SECONDS).changed(), "idempotent");
        assertTrue(domains.adopt("git", read.xml(), true, true).get(30, TimeUnit.SECONDS).changed(), "released");
        assertTrue(ledger.get("git").isEmpty());
    }

    @Test
    void aDefinitionChangedSinceItWasReadIsNotAdopted() throws Exception {
        defineByHand(handMade("git", "", ""), false);
        Domains.Read read = domains.read("git").get(30, TimeUnit.SECONDS);
        defineByHand(handMade("git", "", "").replace("<vcpu>2</vcpu>", "<vcpu>4</vcpu>"), false);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> domains.adopt("git", read.xml(), true, false).get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("changed since it was read"), e.getCause().getMessage());
        assertTrue(ledger.get("git").isEmpty());
    }

    @Test
    void qemuCommandLinePassthroughIsNeverAdopted() throws Exception {
        // libvirt's test driver keeps no QEMU namespace, so the domain is defined plain and the definition to adopt is
        // the one a controller would send had it read <qemu:commandline> from a real libvirtd (see DomainSpecsTest).
        defineByHand(handMade("evil", "", ""), false);
        String hostile = handMade("evil", "", "<qemu:commandline><qemu:arg value='-monitor'/>"
                + "<qemu:arg value='unix:/tmp/m,server'/></qemu:commandline>").replace(
                "<emulator>/usr/bin/qemu-system-x86_64</emulator>", "");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> domains.adopt("evil", hostile, true, false));
        assertTrue(e.getMessage().contains("http://libvirt.org/schemas/domain/qemu/1.0"), e.getMessage());
        assertTrue(e.getMessage().contains("\"domain/qemu:commandline\"") && e.getMessage().contains("<qemu:commandline>"
                + " passes settings to the hypervisor past libvirt"), "named as written: " + e.getMessage());
        assertTrue(ledger.get("evil").isEmpty());
    }

    @Test
    void aDiskOutsideTheImagesDirectoryIsReadWithItsReason() throws Exception {
        String xml = handMade("db", "", "").replace("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                + "<source protocol='rbd' name='libvirt-sata/db'/>", "<disk type='file' device='disk'>"
                + "<driver name='qemu' type='raw'/><source file='/etc/shadow'/>");
        defineByHand(xml, false);
        Domains.Read read = domains.read("db").get(30, TimeUnit.SECONDS);
        assertTrue(read.refusal().contains("/etc/shadow") && read.refusal().contains(images.resolve("db.img").toString()),
                read.refusal());
    }

    @Test
    void aHostDeviceIsReadWithItsReason() throws Exception {
        defineByHand(handMade("gpu", "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
                + "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>", ""), false);
        Domains.Read read = domains.read("gpu").get(30, TimeUnit.SECONDS);
        assertTrue(read.refusal().contains("<hostdev>"), read.refusal());
    }

    private boolean libvirtAutostart(String name) throws Exception {
        return hypervisor.withConnection(c -> c.domainLookupByName(name).getAutostart());
    }

    private void setLibvirtAutostart(String name, boolean on) throws Exception {
        hypervisor.withConnection(c -> {
            c.domainLookupByName(name).setAutostart(on);
            return null;
        });
    }

    @Test
    void libvirtsAutostartIsTakenOnceTheLedgerHoldsItAndGivenBackWhenTheAdoptionIsUndone() throws Exception {
        defineByHand(handMade("git", "", ""), false);
        setLibvirtAutostart("git", true);
        Domains.Read read = domains.read("git").get(30, TimeUnit.SECONDS);
        assertTrue(read.libvirtAutostart());

        // Asked without autostart (a stopped VM): libvirt started it at boot, so the agent does from now on.
        Domains.Step step = domains.adopt("git", read.xml(), false, false).get(30, TimeUnit.SECONDS);
        assertTrue(step.detail().contains("libvirt's own autostart turned off"), step.detail());
        assertFalse(libvirtAutostart("git"), "the agent starts it at boot instead");
        DefinitionLedger.Entry entry = DefinitionLedger.load(dir.resolve("state")).get("git").orElseThrow();
        assertTrue(entry.autostart(), "a domain libvirt started at boot keeps being started at boot: " + entry);
        assertTrue(entry.libvirtAutostartTaken(), "kept in the ledger's file: " + entry);

        Domains.Step released = domains.adopt("git", read.xml(), false, true).get(30, TimeUnit.SECONDS);
        assertTrue(released.changed(), released.detail());
        assertTrue(libvirtAutostart("git"), "given back as found: " + released.detail());
        assertTrue(ledger.get("git").isEmpty());

        // One that libvirt did not start at boot is released as it was, its flag left off.
        defineByHand(handMade("db", "", "").replace("6b1e1f52", "7b1e1f52"), false);
        Domains.Read db = domains.read("db").get(30, TimeUnit.SECONDS);
        domains.adopt("db", db.xml(), false, false).get(30, TimeUnit.SECONDS);
        assertFalse(ledger.get("db").orElseThrow().autostart());
        assertFalse(ledger.get("db").orElseThrow().libvirtAutostartTaken());
        domains.adopt("db", db.xml(), false, true).get(30, TimeUnit.SECONDS);
        assertFalse(libvirtAutostart("db"));
    }

    @Test
    void aLedgerThatCannotBeWrittenLeavesTheDomainAsItWasWithLibvirtsAutostartOn() throws Exception {
        defineByHand(handMade("git", "", ""), true);
        setLibvirtAutostart("git", true);
        Domains.Read read = domains.read("git").get(30, TimeUnit.SECONDS);
        // The ledger's file cannot be replaced: a directory that is not empty stands where it goes.
        Files.createDirectories(dir.resolve("state").resolve(DefinitionLedger.FILE).resolve("in-the-way"));

        ExecutionException e = assertThrows(ExecutionException.class,
                () -> domains.adopt("git", read.xml(), true, false).get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof DomainOperationException d && d.reason() == DomainOperationException.Reason
                .UNAVAILABLE, String.valueOf(e.getCause()));
        assertTrue(e.getCause().getMessage().contains("cannot write the ledger"), e.getCause().getMessage());
        assertTrue(libvirtAutostart("git"), "libvirt still starts it at boot: nothing was lost");
        assertTrue(ledger.get("git").isEmpty(), "not adopted");
    }

    @Test
    void aConsolePasswordIsReadAsARefusalWithoutTheSecretAndNeverAdopted() throws Exception {
        defineByHand(handMade("www", "<graphics type='vnc' port='-1' autoport='yes' passwd='s3cr3t-pw'/>", ""), true);
        Domains.Read read = domains.read("www").get(30, TimeUnit.SECONDS);
        assertTrue(read.refusal().contains("password") && read.refusal().contains("<graphics type=\"vnc\">"),
                read.refusal());
        assertFalse(read.refusal().contains("s3cr3t-pw") || read.xml().contains("s3cr3t-pw"), "the secret stays libvirt's");
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> domains.adopt("www", read.xml(), true, false).get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("password"), e.getCause().getMessage());
        assertTrue(ledger.get("www").isEmpty());

        defineByHand(handMade("open", "<graphics type='vnc' port='-1' autoport='yes'/>", "").replace("6b1e1f52",
                "8b1e1f52"), false);
        assertEquals("", domains.read("open").get(30, TimeUnit.SECONDS).refusal(), "a console without a password is fine");
    }

    @Test
    void aTcpSerialPortOrAnEgdEntropyDaemonIsReadWithItsReason() throws Exception {
        defineByHand(handMade("tty", "<serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/>"
                + "<protocol type='raw'/><target port='0'/></serial>", ""), false);
        String tcp = domains.read("tty").get(30, TimeUnit.SECONDS).refusal();
        assertTrue(tcp.contains("tcp") && tcp.contains("host's network"), tcp);
        defineByHand(handMade("egd", "<rng model='virtio'><backend model='egd' type='udp'><source mode='connect'"
                + " host='10.0.0.9' service='708'/></backend></rng>", "").replace("6b1e1f52", "9b1e1f52"), false);
        String egd = domains.read("egd").get(30, TimeUnit.SECONDS).refusal();
        assertTrue(egd.contains("egd"), egd);
    }

    @Test
    void aNameThatIsNoDnsLabelIsRefusedBeforeLibvirtIsAsked() {
        assertThrows(InvalidInputException.class, () -> domains.read("Web_1"));
    }
}
