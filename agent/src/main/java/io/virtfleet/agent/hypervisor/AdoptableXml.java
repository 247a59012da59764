package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.xml.Xml;
import java.util.Optional;
import java.util.regex.Pattern;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * A domain someone else defined, in the form the definitions repository keeps for it when virtfleet adopts it:
 * libvirt's own inactive definition, only without an {@code <emulator>} that names this host's QEMU. libvirt writes
 * that line into every definition it holds; the agent refuses it in definitions it is sent (it names a host program),
 * and leaving it out means "the host's default", which is what it names. Any other emulator stays, so the rules
 * refuse the domain. The same text gives the same result on every call: the fingerprint of the form read is how
 * AdoptDomain knows libvirt's definition has not changed since ReadDomain.
 */
public final class AdoptableXml {
    /** The paths Debian's QEMU packages install, which libvirt names as the default emulator. */
    private static final Pattern HOST_QEMU = Pattern.compile("/usr/bin/(qemu-system-[a-z0-9_]+|kvm)");

    /** Where a domain's (first) disk lives: a file on this host, or an RBD image. */
    public record DiskSource(boolean rbd, String file, String pool, String image) {
        @Override
        public String toString() {
            return rbd ? "rbd:" + pool + "/" + image : file;
        }
    }

    private AdoptableXml() {}

    /** libvirt's definition {@code libvirtXml} as the repository is to hold it. */
    public static String of(String libvirtXml) {
        Document doc = Xml.parse("domain_xml", libvirtXml, DomainDefinition.MAX_CHARS);
        Element devices = child(doc.getDocumentElement(), "devices");
        if (devices != null) {
            Element emulator = child(devices, "emulator");
            if (emulator != null && HOST_QEMU.matcher(emulator.getTextContent().strip()).matches()) {
                Node before = emulator.getPreviousSibling();
                if (before != null && before.getNodeType() == Node.TEXT_NODE && before.getTextContent().isBlank()) {
                    devices.removeChild(before); // no blank line where it was
                }
                devices.removeChild(emulator);
            }
        }
        return Xml.write(doc);
    }

    /** The source of the definition's first {@code <disk device="disk">}; empty when it has none this can name. */
    public static Optional<DiskSource> disk(String xml) {
        Document doc = Xml.parse("domain_xml", xml, DomainDefinition.MAX_CHARS);
        Element devices = child(doc.getDocumentElement(), "devices");
        if (devices == null) {
            return Optional.empty();
        }
        for (Node n = devices.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element disk && "disk".equals(disk.getLocalName())
                    && "disk".equals(disk.getAttribute("device").isEmpty() ? "disk" : disk.getAttribute("device"))) {
                Element source = child(disk, "source");
                if (source == null) {
                    return Optional.empty();
                }
                if ("file".equals(disk.getAttribute("type")) && !source.getAttribute("file").isEmpty()) {
                    return Optional.of(new DiskSource(false, source.getAttribute("file"), null, null));
                }
                String name = source.getAttribute("name");
                int slash = name.indexOf('/');
                if ("network".equals(disk.getAttribute("type")) && "rbd".equals(source.getAttribute("protocol"))
                        && slash > 0) {
                    return Optional.of(new DiskSource(true, null, name.substring(0, slash), name.substring(slash + 1)));
                }
                return Optional.empty();
            }
        }
        return Optional.empty();
    }

    private static Element child(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && name.equals(e.getLocalName()) && e.getNamespaceURI() == null) {
                return e;
            }
        }
        return null;
    }
}
