package io.virtfleet.controller.adopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The spec of a domain made by hand, as the runbook made them, and each thing that keeps one from being adopted. */
class DomainSpecsTest {
    private static final Path IMAGES = Path.of("/var/lib/libvirt/images");
    private final DomainSpecs specs = new DomainSpecs(DomainSettings.defaults());

    private static final String RBD_DISK = "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            + "<auth username='libvirt'><secret type='ceph' usage='client.libvirt secret'/></auth>"
            + "<source protocol='rbd' name='libvirt-sata/git'><host name='10.0.0.1' port='6789'/></source>"
            + "<target dev='vda' bus='virtio'/></disk>";

    private static String domain(String name, String disk, String nic, String extra) {
        return "<domain type='kvm'><name>" + name + "</name><uuid>6b1e1f52-3c3b-4f0c-9d8e-1b0e6f3f0a11</uuid>"
                + "<memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>2097152</currentMemory>"
                + "<vcpu placement='static'>2</vcpu><os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>"
                + "<devices>" + disk + nic
                + "<controller type='usb' index='0' model='qemu-xhci'/><input type='tablet' bus='usb'/>"
                + "<graphics type='vnc' port='-1' autoport='yes'/><video><model type='virtio'/></video>"
                + "<console type='pty'/><memballoon model='virtio'/>" + extra + "</devices></domain>";
    }

    private static String lan(int n) {
        return "<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='vxbr" + n + "'/>"
                + "<model type='virtio'/></interface>";
    }

    private static DomainSpecs.Facts facts(long disk) {
        return new DomainSpecs.Facts(IMAGES, disk, "rbd:libvirt-sata/git", "", null, "");
    }

    @Test
    void aSataVmOnLan10IsReadAsItsSpec() throws Exception {
        DomainSpecs.Derived d = specs.derive("git", domain("git", RBD_DISK, lan(10), ""), facts(20 * Bytes.GIB));
        VmSpec s = d.spec();
        assertEquals("git", s.getName());
        assertEquals(StorageTier.STORAGE_TIER_SATA, s.getStorage());
        assertEquals(20 * Bytes.GIB, s.getDiskBytes(), "the image's own size");
        assertEquals(2 * Bytes.GIB, s.getMemoryBytes());
        assertEquals(2, s.getVcpus());
        assertEquals(10, s.getNetwork().getLan());
        assertEquals("base", s.getProfile(), "the default profile");
        assertTrue(s.getReplicated(), "Ceph-backed: replicated, as virtfleet's own");
        assertEquals("rbd:libvirt-sata/git", d.disk());
        assertEquals("vxbr10 52:54:00:12:34:56", d.network());
        assertEquals("6b1e1f52-3c3b-4f0c-9d8e-1b0e6f3f0a11", d.uuid());
    }

    @Test
    void anSsdPoolIsTheSsdTier() throws Exception {
        String disk = RBD_DISK.replace("libvirt-sata/git", "libvirt-ssd/git");
        assertEquals(StorageTier.STORAGE_TIER_SSD,
                specs.derive("git", domain("git", disk, lan(10), ""), facts(20 * Bytes.GIB)).spec().getStorage());
    }

    @Test
    void aRawFileInTheImagesDirectoryIsTheRawTierAndNotReplicated() throws Exception {
        String disk = "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                + "<source file='/var/lib/libvirt/images/db.img'/><target dev='vda' bus='virtio'/></disk>";
        DomainSpecs.Derived d = specs.derive("db", domain("db", disk, lan(7), ""),
                new DomainSpecs.Facts(IMAGES, 50 * Bytes.GIB, "", "raw", null, "api"));
        assertEquals(StorageTier.STORAGE_TIER_RAW, d.spec().getStorage());
        assertFalse(d.spec().getReplicated());
        assertEquals("api", d.spec().getProfile());
        assertEquals(7, d.spec().getNetwork().getLan());
    }

    @Test
    void thePublicBridgeWithItsFailoverIpIsAFailoverVm() throws Exception {
        String nic = "<interface type='bridge'><mac address='02:00:00:aa:bb:cc'/><source bridge='br0'/>"
                + "<model type='virtio'/></interface>";
        DomainSpecs.Refused noIp = assertThrows(DomainSpecs.Refused.class,
                () -> specs.derive("www", domain("www", RBD_DISK.replace("/git", "/www"), nic, ""), facts(20 * Bytes.GIB)));
        assertTrue(noIp.getMessage().contains("--failover-ip www="), noIp.getMessage());
        DomainSpecs.Derived d = specs.derive("www", domain("www", RBD_DISK.replace("/git", "/www"), nic, ""),
                new DomainSpecs.Facts(IMAGES, 20 * Bytes.GIB, "", "", "203.0.113.7", ""));
        assertEquals("203.0.113.7", d.spec().getNetwork().getFailover().getAddress());
        assertEquals("02:00:00:aa:bb:cc", d.spec().getNetwork().getFailover().getMac(), "the virtual MAC");
    }

    private void refused(String name, String xml, DomainSpecs.Facts facts, String... words) {
        DomainSpecs.Refused e = assertThrows(DomainSpecs.Refused.class, () -> specs.derive(name, xml, facts));
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "\"" + w + "\" in: " + e.getMessage());
        }
    }

    @Test
    void aDiskOutsideTheImagesDirectoryIsRefused() {
        String disk = "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                + "<source file='/home/ops/git.img'/><target dev='vda' bus='virtio'/></disk>";
        refused("git", domain("git", disk, lan(10), ""), facts(20 * Bytes.GIB), "/home/ops/git.img",
                "outside the images directory", "/var/lib/libvirt/images/git.img");
    }

    @Test
    void qemuCommandLinePassthroughIsRefused() {
        String xml = domain("git", RBD_DISK, lan(10), "").replace("<domain type='kvm'>",
                "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>").replace("</domain>",
                "<qemu:commandline><qemu:arg value='-s'/></qemu:commandline></domain>");
        refused("git", xml, facts(20 * Bytes.GIB), "qemu:commandline", "past libvirt");
    }

    @Test
    void anUnknownDeviceIsRefused() {
        refused("git", domain("git", RBD_DISK, lan(10), "<smartcard mode='passthrough' type='spicevmc'/>"),
                facts(20 * Bytes.GIB), "unknown device <smartcard>");
        refused("git", domain("git", RBD_DISK, lan(10), "<hostdev mode='subsystem' type='usb'/>"),
                facts(20 * Bytes.GIB), "unknown device <hostdev>");
    }

    @Test
    void characterDevicesOnTheHostsNetworkAndAnEgdEntropyDaemonAreRefused() throws Exception {
        refused("git", domain("git", RBD_DISK, lan(10), "<serial type='tcp'><source mode='bind' host='0.0.0.0'"
                + " service='4555'/><protocol type='telnet'/><target port='0'/></serial>"), facts(20 * Bytes.GIB),
                "<serial type=\"tcp\">", "host's network", "type pty");
        refused("git", domain("git", RBD_DISK, lan(10), "<channel type='udp'><source mode='connect' host='10.0.0.9'"
                + " service='514'/><target type='virtio' name='log'/></channel>"), facts(20 * Bytes.GIB),
                "<channel type=\"udp\">");
        refused("git", domain("git", RBD_DISK, lan(10), "<rng model='virtio'><backend model='egd' type='tcp'>"
                + "<source mode='connect' host='10.0.0.9' service='708'/></backend></rng>"), facts(20 * Bytes.GIB),
                "EGD backend", "/dev/urandom");
        // What virtfleet's own VMs have stays adoptable: a pty serial console and the host's /dev/urandom.
        specs.derive("git", domain("git", RBD_DISK, lan(10), "<serial type='pty'><target port='0'/></serial>"
                + "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"), facts(20 * Bytes.GIB));
    }

    @Test
    void anUnknownDiskTypeIsRefused() {
        String iscsi = "<disk type='network' device='disk'><source protocol='iscsi' name='iqn.2013-06.com.example:git/1'/>"
                + "<target dev='vda' bus='virtio'/></disk>";
        refused("git", domain("git", iscsi, lan(10), ""), facts(20 * Bytes.GIB), "unknown disk type network",
                "protocol iscsi");
        String block = "<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vda'/></disk>";
        refused("git", domain("git", block, lan(10), ""), facts(20 * Bytes.GIB), "unknown disk type block");
    }

    @Test
    void anRbdImageInAnotherPoolOrUnderAnotherNameIsRefused() {
        refused("git", domain("git", RBD_DISK.replace("libvirt-sata/git", "rbd/git"), lan(10), ""),
                facts(20 * Bytes.GIB), "pool rbd", "libvirt-ssd", "libvirt-sata");
        refused("git", domain("git", RBD_DISK.replace("libvirt-sata/git", "libvirt-sata/gitlab"), lan(10), ""),
                facts(20 * Bytes.GIB), "not named after the VM");
    }

    @Test
    void aBridgeThatIsNoLanIsRefused() {
        String nic = "<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='virbr0'/></interface>";
        refused("git", domain("git", RBD_DISK, nic, ""), facts(20 * Bytes.GIB), "bridge virbr0 is no LAN", "vxbr<N>");
        String network = "<interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/></interface>";
        refused("git", domain("git", RBD_DISK, network, ""), facts(20 * Bytes.GIB), "of type network");
    }

    @Test
    void aNameThatIsNoDnsLabelIsRefused() {
        refused("Git_Server", domain("Git_Server", RBD_DISK, lan(10), ""), facts(20 * Bytes.GIB), "no DNS label",
                "virsh domrename");
    }

    @Test
    void twoDisksOrAnUnreadableImageSizeAreRefused() {
        refused("git", domain("git", RBD_DISK + RBD_DISK, lan(10), ""), facts(20 * Bytes.GIB), "2 disks");
        refused("git", domain("git", RBD_DISK, lan(10), ""),
                new DomainSpecs.Facts(IMAGES, 0, "RBD image libvirt-sata/git does not exist", "", null, ""),
                "size of disk rbd:libvirt-sata/git is unknown", "does not exist");
    }

    @Test
    void aQcow2FileIsRefused() {
        String disk = "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                + "<source file='/var/lib/libvirt/images/db.img'/><target dev='vda' bus='virtio'/></disk>";
        refused("db", domain("db", disk, lan(7), ""), new DomainSpecs.Facts(IMAGES, 50 * Bytes.GIB, "", "qcow2", null, ""),
                "qcow2");
    }

    @Test
    void aDoctypeIsRefusedByTheParser() {
        String xml = "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/shadow'>]>" + domain("git", RBD_DISK, lan(10), "");
        refused("git", xml, facts(20 * Bytes.GIB), "DOCTYPE");
    }
}
