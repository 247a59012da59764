package io.virtfleet.controller.definitions;

import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Vxlan;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.common.xml.Xml;
import io.virtfleet.controller.cpu.CpuModel;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.util.UUID;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * Renders a VM's libvirt domain definition from its spec and the fleet's {@link DomainSettings}: the XML
 * the runbook's helper scripts wrote by hand, built with DOM so every value is escaped by the XML library.
 * The same spec and settings always give the same bytes, so a definition can be compared and committed
 * as text, and every host that defines it gets the same domain (same UUID, same MAC).
 */
public final class DomainXml {
    /** Boot from the network first (PXE installs the VM), then from the disk once it is installed. */
    private static final String NETWORK_BOOT = "1";
    private static final String DISK_BOOT = "2";
    /** An installed VM boots its disk only: a PXE server's default config must never reinstall it. */
    private static final String FIRST = "1";
    /**
     * MTU of a LAN NIC: the LAN's bridge takes the MTU of its VXLAN port, the underlay's 1500 less VXLAN's 50 bytes
     * of headers over IPv4. Told to the guest (virtio-net's host_mtu), so it does not send full-size frames the
     * bridge would drop.
     */
    public static final int LAN_MTU = 1450;

    private final DomainSettings settings;
    /** The fleet CPU model every definition names; null while the fleet has none. */
    private final CpuModel cpu;

    /** Definitions that name no CPU model: the host's own CPU under KVM, QEMU's default under TCG. */
    public DomainXml(DomainSettings settings) {
        this(settings, null);
    }

    /**
     * @param cpu the fleet CPU model, which the guest then gets on every host whatever its processor (so it can
     *            move between hosts of different generations); null for none
     */
    public DomainXml(DomainSettings settings, CpuModel cpu) {
        this.settings = settings;
        this.cpu = cpu;
    }

    /** The domain XML of a spec, booting from the network first; an invalid spec is refused with the field it fails on. */
    public String render(VmSpec spec) {
        return render(spec, Boot.network());
    }

    /**
     * The domain XML of a spec.
     *
     * @param boot from the network first (while a PXE install is armed, or always when the site boots its VMs its
     *             own way), from its disk only (once it is installed), or the installer's kernel (a direct kernel
     *             boot install is armed; the boot must carry the home host's files)
     */
    public String render(VmSpec spec, Boot boot) {
        VmSpec vm = VmSpecs.validate(spec);
        if (boot.isKernel() && (boot.kernel().isEmpty() || boot.initrd().isEmpty())) {
            throw new IllegalArgumentException("a kernel boot needs the home host's installer kernel and initrd");
        }
        boolean networkBoot = boot.kind() == Boot.Kind.NETWORK;
        Document doc = Xml.newDocument();
        Element domain = doc.createElement("domain");
        domain.setAttribute("type", settings.domainType());
        doc.appendChild(domain);

        text(domain, "name", vm.getName());
        text(domain, "uuid", DomainIdentity.uuid(vm.getName()).toString());
        String kib = Long.toString(kibibytes(vm.getMemoryBytes()));
        text(domain, "memory", kib).setAttribute("unit", "KiB");
        text(domain, "currentMemory", kib).setAttribute("unit", "KiB");
        text(domain, "vcpu", Integer.toString(vm.getVcpus())).setAttribute("placement", "static");

        Element os = child(domain, "os");
        Element type = text(os, "type", "hvm");
        type.setAttribute("arch", "x86_64");
        type.setAttribute("machine", settings.machineType());
        if (boot.isKernel()) {
            text(os, "kernel", boot.kernel());
            text(os, "initrd", boot.initrd());
            text(os, "cmdline", boot.cmdline());
        }
        Element features = child(domain, "features");
        child(features, "acpi"); // lets SetDomainRunning(false) ask the guest to shut down cleanly
        child(features, "apic");
        if (cpu != null) {
            cpu.appendTo(domain);
        } else if (DomainSettings.KVM.equals(settings.domainType())) {
            // The guest sees the host's CPU; QEMU's emulated CPU models (TCG) have no host to pass through.
            Element passthrough = child(domain, "cpu");
            passthrough.setAttribute("mode", "host-passthrough");
        }
        child(domain, "clock").setAttribute("offset", "utc");
        text(domain, "on_poweroff", "destroy");
        // The installer's reboot at the end of a kernel-boot install must not start the installer again (a running
        // domain keeps the kernel it was started with): the domain stops, and the controller starts it from its
        // definition of then, which boots the disk.
        text(domain, "on_reboot", boot.isKernel() ? "destroy" : "restart");
        text(domain, "on_crash", "restart");

        Element devices = child(domain, "devices");
        disk(devices, vm, networkBoot);
        nic(devices, vm, networkBoot);
        Element serial = child(devices, "serial");
        serial.setAttribute("type", "pty");
        child(serial, "target").setAttribute("port", "0");
        Element console = child(devices, "console");
        console.setAttribute("type", "pty");
        Element consoleTarget = child(console, "target");
        consoleTarget.setAttribute("type", "serial");
        consoleTarget.setAttribute("port", "0");
        child(devices, "memballoon").setAttribute("model", "virtio");
        Element rng = child(devices, "rng"); // entropy for the installer and first boot (ssh host keys)
        rng.setAttribute("model", "virtio");
        text(rng, "backend", "/dev/urandom").setAttribute("model", "random");
        return Xml.write(doc);
    }

    private void disk(Element devices, VmSpec vm, boolean networkBoot) {
        Element disk = child(devices, "disk");
        disk.setAttribute("device", "disk");
        Element driver = child(disk, "driver");
        driver.setAttribute("name", "qemu");
        driver.setAttribute("type", "raw");
        StorageTier tier = vm.getStorage();
        if (tier == StorageTier.STORAGE_TIER_RAW) {
            disk.setAttribute("type", "file");
            // Raw is chosen for speed: no host page cache in between (the guest caches), Linux native AIO.
            driver.setAttribute("cache", "none");
            driver.setAttribute("io", "native");
            driver.setAttribute("discard", "unmap");
            child(disk, "source").setAttribute("file",
                    settings.imagesDirectory().resolve(vm.getName() + ".img").toString());
        } else {
            disk.setAttribute("type", "network");
            driver.setAttribute("cache", "writeback");
            driver.setAttribute("discard", "unmap");
            Element auth = child(disk, "auth");
            auth.setAttribute("username", settings.cephClient());
            Element secret = child(auth, "secret");
            secret.setAttribute("type", "ceph");
            secret.setAttribute("usage", "client." + settings.cephClient() + " secret");
            Element source = child(disk, "source");
            source.setAttribute("protocol", "rbd");
            String pool = tier == StorageTier.STORAGE_TIER_SSD ? settings.ssdPool() : settings.sataPool();
            source.setAttribute("name", pool + "/" + vm.getName());
            for (Endpoint monitor : settings.cephMonitors()) {
                Element host = child(source, "host");
                host.setAttribute("name", monitor.bareHost());
                host.setAttribute("port", Integer.toString(monitor.port()));
            }
        }
        Element target = child(disk, "target");
        target.setAttribute("dev", "vda");
        target.setAttribute("bus", "virtio");
        child(disk, "boot").setAttribute("order", networkBoot ? DISK_BOOT : FIRST);
    }

    private void nic(Element devices, VmSpec vm, boolean networkBoot) {
        Element nic = child(devices, "interface");
        nic.setAttribute("type", "bridge");
        NetworkSpec network = vm.getNetwork();
        boolean failover = network.getAttachmentCase() == NetworkSpec.AttachmentCase.FAILOVER;
        String mac;
        String bridge;
        if (failover) {
            mac = network.getFailover().getMac(); // OVH routes the failover IP only to its virtual MAC
            bridge = settings.publicBridge();
        } else {
            mac = DomainIdentity.lanMac(vm.getName());
            bridge = lanBridge(Vxlan.fromUint32("spec.network.lan", network.getLan()));
        }
        child(nic, "mac").setAttribute("address", mac);
        child(nic, "source").setAttribute("bridge", bridge);
        child(nic, "model").setAttribute("type", "virtio");
        if (!failover) {
            child(nic, "mtu").setAttribute("size", Integer.toString(LAN_MTU)); // the public bridge keeps the uplink's
        }
        if (networkBoot) {
            child(nic, "boot").setAttribute("order", NETWORK_BOOT);
        }
    }

    /** The MAC of the VM's one NIC: the failover IP's virtual MAC, else the LAN MAC derived from the name. */
    public static String mac(VmSpec spec) {
        return spec.getNetwork().hasFailover() ? spec.getNetwork().getFailover().getMac()
                : DomainIdentity.lanMac(spec.getName());
    }

    /** The bridge the agent's network feature makes for a LAN: {@code vxbr<N>}, enslaving {@code vxlan<N>}. */
    /** Where the VM's disk is, as an operator would write it. */
    public String disk(VmSpec spec) {
        String name = spec.getName();
        return switch (spec.getStorage()) {
            case STORAGE_TIER_SSD -> "rbd:" + settings.ssdPool() + "/" + name;
            case STORAGE_TIER_SATA -> "rbd:" + settings.sataPool() + "/" + name;
            default -> settings.imagesDirectory().resolve(name + ".img").toString();
        };
    }

    /** The VM's bridge and MAC address. */
    public String network(VmSpec spec) {
        return spec.getNetwork().hasFailover()
                ? settings.publicBridge() + " " + spec.getNetwork().getFailover().getMac()
                : lanBridge(spec.getNetwork().getLan()) + " " + DomainIdentity.lanMac(spec.getName());
    }

    public static String lanBridge(int vxlan) {
        return "vxbr" + vxlan;
    }

    /** Memory in whole KiB, rounded up: a guest gets at least what its spec asks. */
    static long kibibytes(long bytes) {
        return (bytes + 1023) / 1024;
    }

    /** Name and UUID of a domain definition. */
    public record Identity(String name, UUID uuid) {}

    /**
     * Reads the name and UUID back from a definition (parsed with DTDs and entities refused); throws
     * InvalidInputException naming {@code field} when it is not a domain with both.
     */
    public static Identity identityOf(String field, String xml) {
        Element domain = Xml.parse(field, xml, 1 << 20).getDocumentElement();
        if (!"domain".equals(domain.getLocalName()) || domain.getNamespaceURI() != null) {
            throw new InvalidInputException(field, xml, "a libvirt <domain> definition");
        }
        String name = childText(domain, "name");
        String uuid = childText(domain, "uuid");
        if (name == null || uuid == null) {
            throw new InvalidInputException(field, xml, "a libvirt <domain> definition with <name> and <uuid>");
        }
        try {
            return new Identity(name, UUID.fromString(uuid));
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(field + ".uuid", uuid, "a UUID 8-4-4-4-12 of hex digits");
        }
    }

    private static String childText(Element parent, String tag) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && tag.equals(e.getLocalName()) && e.getNamespaceURI() == null) {
                return e.getTextContent().strip();
            }
        }
        return null;
    }

    private static Element child(Element parent, String tag) {
        Element e = parent.getOwnerDocument().createElement(tag);
        parent.appendChild(e);
        return e;
    }

    private static Element text(Element parent, String tag, String content) {
        Element e = child(parent, tag);
        e.setTextContent(content);
        return e;
    }
}
