package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.xml.Xml;
import java.util.Optional;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * Guest CPU definitions as the agent hands them to libvirt and back: the host-model CPU read out of the domain
 * capabilities, and the {@code <cpu>} documents a request brings, parsed with DTDs and entities refused.
 */
final class GuestCpuXml {
    /** A guest CPU definition is a model, a vendor and a few hundred features at most: far below this. */
    static final int MAX_CHARS = 65_536;
    /** The domain capabilities list every CPU model and device QEMU knows: tens of KiB. */
    private static final int MAX_CAPABILITIES_CHARS = 4 << 20;

    private GuestCpuXml() {}

    /**
     * The host-model CPU of a domain capabilities document as a guest CPU definition
     * ({@code <cpu mode='custom' match='exact'>} with its model, vendor and features), or empty when libvirt offers
     * none here ({@code <mode name='host-model' supported='no'>}, as on a host whose CPU libvirt does not know).
     */
    static Optional<String> hostModel(String domainCapabilities) {
        Element root = Xml.parse("domain capabilities", domainCapabilities, MAX_CAPABILITIES_CHARS).getDocumentElement();
        Element cpu = child(root, "cpu");
        if (cpu == null) {
            return Optional.empty();
        }
        for (Node n = cpu.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element mode && "mode".equals(mode.getLocalName()) && "host-model".equals(mode.getAttribute("name"))
                    && "yes".equals(mode.getAttribute("supported"))) {
                return Optional.of(guestCpu(mode));
            }
        }
        return Optional.empty();
    }

    /** A guest CPU definition from the model, vendor and features under {@code source}; anything else is left out. */
    private static String guestCpu(Element source) {
        Document doc = Xml.newDocument();
        Element cpu = doc.createElement("cpu");
        cpu.setAttribute("mode", "custom");
        cpu.setAttribute("match", "exact");
        doc.appendChild(cpu);
        boolean model = false;
        for (Node n = source.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getNamespaceURI() == null
                    && ("model".equals(e.getLocalName()) || "vendor".equals(e.getLocalName()) || "feature".equals(e.getLocalName()))) {
                model |= "model".equals(e.getLocalName());
                cpu.appendChild(doc.importNode(e, true));
            }
        }
        if (!model) {
            throw new InvalidInputException("domain capabilities", "host-model without <model>",
                    "a host-model CPU with a <model>");
        }
        return Xml.write(doc);
    }

    /** Checks that {@code xml} (given in {@code field}) is one guest CPU definition, {@code <cpu>} with a {@code <model>}. */
    static String check(String field, String xml) {
        Element cpu = Xml.parse(field, xml, MAX_CHARS).getDocumentElement();
        if (!"cpu".equals(cpu.getLocalName()) || cpu.getNamespaceURI() != null || child(cpu, "model") == null) {
            throw new InvalidInputException(field, xml, "a guest CPU definition: <cpu> with a <model>, as libvirt's"
                    + " host-model CPU");
        }
        return xml;
    }

    private static Element child(Element parent, String tag) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && tag.equals(e.getLocalName()) && e.getNamespaceURI() == null) {
                return e;
            }
        }
        return null;
    }
}
