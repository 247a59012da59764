package io.virtfleet.controller.adopt;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.common.xml.Xml;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The spec of a domain virtfleet did not create, read from its definition (parsed with DTDs and entities refused):
 * a pure function of the XML and what its home host and the fleet's settings say. Anything virtfleet cannot model is
 * a {@link Refused} naming what and why; the derivation never guesses.
 */
public final class DomainSpecs {
    /** A definition is a few KB; libvirt's own of a busy domain stays well under this. */
    private static final int MAX_CHARS = 1 << 20;
    /** Devices virtfleet's VMs may have: each is the guest's own, none reaches the host beyond its disk and bridge. */
    private static final Set<String> KNOWN_DEVICES = Set.of("disk", "controller", "interface", "input", "graphics",
            "video", "console", "serial", "channel", "memballoon", "rng", "sound", "audio", "watchdog", "panic");
    /** Devices backed by a host character device, and the backends of theirs that open a socket on the host's network. */
    private static final Set<String> CHARACTER_DEVICES = Set.of("serial", "console", "channel", "parallel");
    private static final Set<String> SOCKETS = Set.of("tcp", "udp");
    private static final Pattern LAN_BRIDGE = Pattern.compile("vxbr([1-9][0-9]{0,7})");
    private static final Map<String, Long> UNITS = Map.ofEntries(Map.entry("b", 1L), Map.entry("bytes", 1L),
            Map.entry("kb", 1000L), Map.entry("k", 1024L), Map.entry("kib", 1024L), Map.entry("mb", 1000_000L),
            Map.entry("m", 1L << 20), Map.entry("mib", 1L << 20), Map.entry("gb", 1000_000_000L),
            Map.entry("g", 1L << 30), Map.entry("gib", 1L << 30), Map.entry("tb", 1000_000_000_000L),
            Map.entry("t", 1L << 40), Map.entry("tib", 1L << 40));

    /** Why a domain cannot be adopted, in words that name the element or value. */
    public static final class Refused extends Exception {
        public Refused(String reason) {
            super(reason);
        }
    }

    /**
     * What the home host says of the domain, besides its XML.
     *
     * @param imagesDirectory the home host's images directory (its report's), where a raw disk must be
     * @param diskBytes       the real image's virtual size (ReadDomain), 0 when unknown
     * @param diskDetail      where that image is, or why there is no size
     * @param diskFormat      a local file's format as qemu-img probed it
     * @param failoverIp      the failover IP the operator gave for this VM, or null
     * @param profile         the profile to record
     */
    public record Facts(Path imagesDirectory, long diskBytes, String diskDetail, String diskFormat, String failoverIp,
                        String profile) {}

    /** A derived spec, with its disk and NIC in an operator's words (as Vm.disk and Vm.network) and its UUID. */
    public record Derived(VmSpec spec, String disk, String network, String mac, String uuid) {}

    private final DomainSettings settings;

    public DomainSpecs(DomainSettings settings) {
        this.settings = settings;
    }

    /** Derives the spec of domain {@code name} from its definition {@code xml}, or refuses saying why. */
    public Derived derive(String name, String xml, Facts facts) throws Refused {
        String badName = nameRefusal(name);
        if (badName != null) {
            throw new Refused(badName);
        }
        Document doc;
        try {
            doc = Xml.parse("domain_xml", xml, MAX_CHARS);
        } catch (InvalidInputException e) {
            throw new Refused("its definition is not XML virtfleet reads: " + e.getMessage());
        }
        Element domain = doc.getDocumentElement();
        if (!"domain".equals(domain.getLocalName()) || !name.equals(text(domain, "name"))) {
            throw new Refused("its definition is not the <domain> named " + name);
        }
        for (Element e : children(domain)) {
            if (e.getNamespaceURI() != null) {
                throw new Refused("<" + e.getTagName() + "> (namespace " + e.getNamespaceURI() + ") passes settings to"
                        + " the hypervisor past libvirt (e.g. QEMU command-line arguments); virtfleet defines no such thing");
            }
        }
        String uuid = text(domain, "uuid");
        if (uuid == null) {
            throw new Refused("its definition has no <uuid>");
        }
        long memory = memoryBytes(domain);
        int vcpus = vcpus(domain);
        Element devices = child(domain, "devices");
        if (devices == null) {
            throw new Refused("its definition has no <devices>");
        }
        List<Element> disks = new ArrayList<>();
        List<Element> nics = new ArrayList<>();
        for (Element d : children(devices)) {
            String kind = d.getLocalName();
            if (kind.equals("emulator")) {
                throw new Refused("<emulator>" + d.getTextContent().strip() + "</emulator> is not this host's QEMU;"
                        + " virtfleet's definitions use the host's default");
            }
            if (!KNOWN_DEVICES.contains(kind)) {
                throw new Refused("unknown device <" + kind + ">: virtfleet's VMs have only " + sorted(KNOWN_DEVICES));
            }
            if (CHARACTER_DEVICES.contains(kind) && SOCKETS.contains(d.getAttribute("type"))) {
                throw new Refused("<" + kind + " type=\"" + d.getAttribute("type") + "\"> listens on or connects to the"
                        + " host's network; virtfleet's VMs have pty consoles only (virsh console): make it type pty");
            }
            if (kind.equals("rng") && child(d, "backend") != null && "egd".equals(child(d, "backend").getAttribute("model"))) {
                throw new Refused("<rng> with an EGD backend reaches an entropy daemon over a socket; virtfleet's VMs read"
                        + " the host's /dev/urandom (<backend model=\"random\">)");
            }
            if (kind.equals("disk")) {
                String device = d.getAttribute("device").isEmpty() ? "disk" : d.getAttribute("device");
                if (device.equals("disk")) {
                    disks.add(d);
                } else if (child(d, "source") != null) {
                    throw new Refused("<disk device=\"" + device + "\"> with a source: virtfleet's VMs have one disk and"
                            + " no other medium");
                }
            }
            if (kind.equals("interface")) {
                nics.add(d);
            }
        }
        if (disks.size() != 1) {
            throw new Refused(disks.size() + " disks: virtfleet's VMs have exactly one");
        }
        if (nics.size() != 1) {
            throw new Refused(nics.size() + " network interfaces: virtfleet's VMs have exactly one (a LAN or a failover IP)");
        }
        VmSpec.Builder spec = VmSpec.newBuilder().setName(name).setMemoryBytes(memory).setVcpus(vcpus)
                .setProfile(facts.profile() == null || facts.profile().isEmpty() ? "base" : facts.profile());
        String disk = disk(name, disks.get(0), facts, spec);
        String mac = mac(nics.get(0));
        String bridge = bridge(nics.get(0));
        Matcher lan = LAN_BRIDGE.matcher(bridge);
        if (lan.matches() && Long.parseLong(lan.group(1)) <= io.virtfleet.common.validation.Vxlan.MAX) {
            spec.setNetwork(NetworkSpec.newBuilder().setLan(Integer.parseInt(lan.group(1))));
        } else if (bridge.equals(settings.publicBridge())) {
            if (facts.failoverIp() == null || facts.failoverIp().isEmpty()) {
                throw new Refused("on the public bridge " + bridge + " with virtual MAC " + mac + ": give its failover IP"
                        + " (virtfleet adopt --failover-ip " + name + "=ADDRESS)");
            }
            spec.setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder()
                    .setAddress(facts.failoverIp()).setMac(mac)));
        } else {
            throw new Refused("bridge " + bridge + " is no LAN (virtfleet's LAN N is bridge vxbr<N>) nor the public"
                    + " bridge " + settings.publicBridge());
        }
        spec.setReplicated(spec.getStorage() != StorageTier.STORAGE_TIER_RAW);
        VmSpec built = spec.build();
        try {
            VmSpecs.validate("spec", built);
        } catch (InvalidInputException e) {
            throw new Refused("its spec is not one virtfleet accepts: " + e.getMessage());
        }
        String network = (built.getNetwork().hasFailover() ? settings.publicBridge() : DomainXml.lanBridge(
                built.getNetwork().getLan())) + " " + mac;
        return new Derived(built, disk, network, mac, uuid);
    }

    /** Why a domain named {@code name} cannot be adopted for its name alone, or null when the name is fine. */
    public static String nameRefusal(String name) {
        if (Names.isDnsLabel(name)) {
            return null;
        }
        return "name \"" + name + "\" is no DNS label (lowercase letters, digits and '-', at most 63, not starting or"
                + " ending with '-'): virtfleet names VMs, disks and host names alike; rename the domain first (virsh"
                + " domrename)";
    }

    private String disk(String name, Element disk, Facts facts, VmSpec.Builder spec) throws Refused {
        String type = disk.getAttribute("type");
        Element source = child(disk, "source");
        Element driver = child(disk, "driver");
        String format = driver == null ? "" : driver.getAttribute("type");
        String where;
        if (type.equals("network") && source != null && "rbd".equals(source.getAttribute("protocol"))) {
            String image = source.getAttribute("name");
            int slash = image.indexOf('/');
            String pool = slash < 0 ? "" : image.substring(0, slash);
            if (pool.equals(settings.ssdPool())) {
                spec.setStorage(StorageTier.STORAGE_TIER_SSD);
            } else if (pool.equals(settings.sataPool())) {
                spec.setStorage(StorageTier.STORAGE_TIER_SATA);
            } else {
                throw new Refused("RBD image " + image + " is in pool " + pool + ", neither the ssd tier's ("
                        + settings.ssdPool() + ") nor the sata tier's (" + settings.sataPool() + ")");
            }
            if (!image.substring(slash + 1).equals(name)) {
                throw new Refused("RBD image " + image + " is not named after the VM (" + pool + "/" + name + ")");
            }
            where = "rbd:" + image;
        } else if (type.equals("file") && source != null) {
            String own = facts.imagesDirectory().resolve(name + ".img").toString();
            if (!own.equals(source.getAttribute("file"))) {
                throw new Refused("disk " + source.getAttribute("file") + " is outside the images directory: a raw"
                        + " disk must be " + own);
            }
            spec.setStorage(StorageTier.STORAGE_TIER_RAW);
            where = own;
            if (!facts.diskFormat().isEmpty() && !facts.diskFormat().equals("raw")) {
                throw new Refused("disk " + own + " is a " + facts.diskFormat() + " image; virtfleet's local disks are raw");
            }
        } else {
            throw new Refused("unknown disk type " + (type.isEmpty() ? "(none)" : type)
                    + (source != null && !source.getAttribute("protocol").isEmpty() ? " (protocol "
                    + source.getAttribute("protocol") + ")" : "") + ": virtfleet's disks are Ceph RBD images or raw files"
                    + " in the images directory");
        }
        if (!format.isEmpty() && !format.equals("raw")) {
            throw new Refused("disk " + where + " is driven as " + format + "; virtfleet's disks are raw");
        }
        if (facts.diskBytes() <= 0) {
            throw new Refused("the size of disk " + where + " is unknown: " + facts.diskDetail());
        }
        spec.setDiskBytes(facts.diskBytes());
        return where;
    }

    private static String mac(Element nic) throws Refused {
        Element mac = child(nic, "mac");
        if (mac == null || mac.getAttribute("address").isEmpty()) {
            throw new Refused("its network interface has no MAC address");
        }
        return mac.getAttribute("address").toLowerCase(Locale.ROOT);
    }

    private static String bridge(Element nic) throws Refused {
        Element source = child(nic, "source");
        if (!"bridge".equals(nic.getAttribute("type")) || source == null || source.getAttribute("bridge").isEmpty()) {
            throw new Refused("network interface of type " + nic.getAttribute("type") + ": virtfleet's VMs are plugged"
                    + " into a host bridge (a LAN's vxbr<N> or the public bridge)");
        }
        return source.getAttribute("bridge");
    }

    private static long memoryBytes(Element domain) throws Refused {
        Element memory = child(domain, "memory");
        if (memory == null) {
            throw new Refused("its definition has no <memory>");
        }
        String unit = memory.getAttribute("unit").isEmpty() ? "kib" : memory.getAttribute("unit").toLowerCase(Locale.ROOT);
        Long scale = UNITS.get(unit);
        try {
            long value = Long.parseLong(memory.getTextContent().strip());
            if (scale == null || value <= 0) {
                throw new NumberFormatException();
            }
            return Math.multiplyExact(value, scale);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new Refused("<memory unit=\"" + memory.getAttribute("unit") + "\">" + memory.getTextContent().strip()
                    + "</memory> is no memory size virtfleet reads");
        }
    }

    private static int vcpus(Element domain) throws Refused {
        Element vcpu = child(domain, "vcpu");
        if (vcpu == null) {
            return 1; // libvirt's default
        }
        try {
            return Integer.parseInt(vcpu.getTextContent().strip());
        } catch (NumberFormatException e) {
            throw new Refused("<vcpu>" + vcpu.getTextContent().strip() + "</vcpu> is no count of vCPUs");
        }
    }

    private static String sorted(Set<String> names) {
        return String.join(", ", new java.util.TreeSet<>(names));
    }

    private static String text(Element parent, String name) {
        Element e = child(parent, name);
        return e == null ? null : e.getTextContent().strip();
    }

    private static Element child(Element parent, String name) {
        for (Element e : children(parent)) {
            if (name.equals(e.getLocalName()) && e.getNamespaceURI() == null) {
                return e;
            }
        }
        return null;
    }

    private static List<Element> children(Element parent) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e) {
                out.add(e);
            }
        }
        return out;
    }
}
