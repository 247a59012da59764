package io.virtfleet.controller.move;

import io.virtfleet.common.xml.Xml;
import io.virtfleet.controller.definitions.DomainRenderer;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The definition a moved VM keeps on its new home. It is the VM's definition as the repository holds it, not one
 * rendered afresh: libvirt refuses a migration whose destination definition changes what the running guest sees
 * (CPU model, devices, machine type), and settings changed since the VM was created must not make it unmovable.
 * Only what is the host's own changes: a raw disk lives in the target's images directory.
 */
final class MoveDefinition {
    private static final int MAX_XML = 1 << 20;

    private MoveDefinition() {}

    static String forTarget(String storedXml, VmSpec spec, DomainRenderer.Rendered forTarget) {
        if (spec.getStorage() != StorageTier.STORAGE_TIER_RAW) {
            return storedXml;
        }
        Document doc = Xml.parse("domain_xml", storedXml, MAX_XML);
        NodeList disks = doc.getElementsByTagName("disk");
        for (int i = 0; i < disks.getLength(); i++) {
            Element disk = (Element) disks.item(i);
            if (!"disk".equals(disk.getAttribute("device")) || !"file".equals(disk.getAttribute("type"))) {
                continue;
            }
            NodeList sources = disk.getElementsByTagName("source");
            if (sources.getLength() == 1) {
                ((Element) sources.item(0)).setAttribute("file", forTarget.disk());
            }
        }
        return Xml.write(doc);
    }

    /**
     * Whether the definition passes the host's own CPU through to the guest (VMs defined before the fleet had a CPU
     * model): such a guest may use any feature of its host's CPU, and libvirt does not check the target's.
     */
    static boolean hostPassthrough(String storedXml) {
        NodeList cpus = Xml.parse("domain_xml", storedXml, MAX_XML).getElementsByTagName("cpu");
        for (int i = 0; i < cpus.getLength(); i++) {
            Element cpu = (Element) cpus.item(i);
            if (cpu.getParentNode() != null && "domain".equals(cpu.getParentNode().getNodeName())
                    && "host-passthrough".equals(cpu.getAttribute("mode"))) {
                return true;
            }
        }
        return false;
    }
}
