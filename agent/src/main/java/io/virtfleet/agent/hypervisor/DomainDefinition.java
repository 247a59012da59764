package io.virtfleet.agent.hypervisor;

import io.virtfleet.agent.hypervisor.DomainOperationException.Reason;
import io.virtfleet.common.install.InstallToken;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.xml.Xml;
import java.nio.file.Path;
import java.util.UUID;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * A domain definition the controller sent, parsed with DTDs and entities refused, checked to be the
 * domain of the VM it is sent for and to stay within {@link DefinitionRules}. libvirt is given the
 * document as re-written here, so it reads exactly what was checked.
 */
final class DomainDefinition {
    /** A rendered definition is about 2 KB; anything near this is not one. */
    static final int MAX_CHARS = 256 * 1024;
    private static final String FIELD = "domain_xml";

    private final String vmName;
    private final Document doc;
    private final String uuid;

    private DomainDefinition(String vmName, Document doc, String uuid) {
        this.vmName = vmName;
        this.doc = doc;
        this.uuid = uuid;
    }

    /**
     * Checks a definition sent for {@code vmName} (validated again here), refusing with the field and the
     * reason: not XML, a DOCTYPE, not a {@code <domain>}, another {@code <name>}, a malformed
     * {@code <uuid>}, or anything {@link DefinitionRules} forbids.
     */
    static DomainDefinition parse(String vmName, String xml, Path imagesDirectory, InstallerFiles installer) {
        return parse(vmName, xml, imagesDirectory, installer, 0);
    }

    /**
     * As {@link #parse(String, String, Path, InstallerFiles)}, for a definition whose {@link InstallToken#PLACEHOLDER}
     * is to be replaced by an install token of {@code installTokenLength} characters ({@link #withInstallToken}).
     */
    static DomainDefinition parse(String vmName, String xml, Path imagesDirectory, InstallerFiles installer,
                                  int installTokenLength) {
        return parse(vmName, xml, imagesDirectory, installer, installTokenLength, false);
    }

    /**
     * As {@link #parse(String, String, Path, InstallerFiles)}, for a replica: a VM being installed by direct kernel
     * boot names its home host's installer files, whose paths depend on that host's images-dir (and, during a
     * rolling upgrade, on its agent's version). A replica is defined with this host's own installer kernel and
     * initrd in their place, the only files it may boot here, so that it is defined at all and would boot the
     * installer should it ever start here.
     */
    static DomainDefinition parseReplica(String vmName, String xml, Path imagesDirectory, InstallerFiles installer) {
        return parse(vmName, xml, imagesDirectory, installer, 0, true);
    }

    private static DomainDefinition parse(String vmName, String xml, Path imagesDirectory, InstallerFiles installer,
                                          int installTokenLength, boolean ownInstallerFiles) {
        Names.vmName("vm_name", vmName);
        Document doc = Xml.parse(FIELD, xml, MAX_CHARS);
        Element domain = doc.getDocumentElement();
        if (ownInstallerFiles && installer != null && installer.available()) {
            useOwnInstallerFiles(domain, installer);
        }
        if (!"domain".equals(domain.getLocalName()) || domain.getNamespaceURI() != null) {
            throw new InvalidInputException(FIELD, xml, "a libvirt <domain> definition");
        }
        String name = childText(domain, "name");
        if (!vmName.equals(name)) {
            throw new InvalidInputException(FIELD + ".name", name,
                    "the name the request is for, \"" + vmName + "\" (vm_name); one domain is defined per request");
        }
        String uuid = childText(domain, "uuid");
        if (uuid != null) {
            try {
                uuid = UUID.fromString(uuid).toString();
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException(FIELD + ".uuid", uuid, "a UUID 8-4-4-4-12 of hex digits");
            }
        }
        DefinitionRules.check(vmName, domain, imagesDirectory, installer, installTokenLength);
        return new DomainDefinition(vmName, doc, uuid);
    }

    /** The {@code <kernel>} and {@code <initrd>} of the domain's own {@code <os>} set to this host's installer files. */
    private static void useOwnInstallerFiles(Element domain, InstallerFiles installer) {
        for (Node os = domain.getFirstChild(); os != null; os = os.getNextSibling()) {
            if (os instanceof Element e && "os".equals(e.getLocalName())) {
                for (Node c = e.getFirstChild(); c != null; c = c.getNextSibling()) {
                    if (c instanceof Element file && "kernel".equals(file.getLocalName())) {
                        file.setTextContent(installer.kernel().toString());
                    } else if (c instanceof Element file && "initrd".equals(file.getLocalName())) {
                        file.setTextContent(installer.initrd().toString());
                    }
                }
            }
        }
    }

    /**
     * This definition with {@code token} in place of the {@link InstallToken#PLACEHOLDER} of its kernel command line.
     * A command line that holds the placeholder needs a token: defined without one, the installer would ask for its
     * preseed with the placeholder, be refused, and the install would stall where nobody sees it.
     *
     * @throws InvalidInputException    when the token is not one (it is not repeated)
     * @throws DomainOperationException (WRONG_STATE) when the command line holds the placeholder and the token is empty
     */
    DomainDefinition withInstallToken(String token) {
        InstallToken.fill("", token); // checks its shape
        Document copy = (Document) doc.cloneNode(true);
        NodeList cmdlines = copy.getElementsByTagName("cmdline");
        boolean filled = false;
        for (int i = 0; i < cmdlines.getLength(); i++) {
            Node cmdline = cmdlines.item(i);
            String text = cmdline.getTextContent();
            if (text.contains(InstallToken.PLACEHOLDER)) {
                if (token.isEmpty()) {
                    throw new DomainOperationException(Reason.WRONG_STATE, vmName + ": its kernel command line holds "
                            + InstallToken.PLACEHOLDER + " but install_token is empty: a home domain of a direct kernel"
                            + " boot install is defined with its live install token only (virtfleet vm reinstall arms"
                            + " a new one when it is gone)");
                }
                cmdline.setTextContent(text.replace(InstallToken.PLACEHOLDER, token));
                filled = true;
            }
        }
        return filled ? new DomainDefinition(vmName, copy, uuid) : this;
    }

    String vmName() {
        return vmName;
    }

    /**
     * The guest device names ({@code <target dev>}, e.g. vda) of the definition's disks that are files on the host:
     * the VM's own image, which a migration must copy (RBD disks are reached from every host).
     */
    java.util.List<String> localDiskTargets() {
        java.util.List<String> targets = new java.util.ArrayList<>();
        NodeList disks = doc.getDocumentElement().getElementsByTagName("disk");
        for (int i = 0; i < disks.getLength(); i++) {
            Element disk = (Element) disks.item(i);
            String device = disk.getAttribute("device");
            if ("file".equals(disk.getAttribute("type")) && (device.isEmpty() || "disk".equals(device))) {
                Node target = firstChild(disk, "target");
                if (target instanceof Element t && !t.getAttribute("dev").isEmpty()) {
                    targets.add(t.getAttribute("dev"));
                }
            }
        }
        return targets;
    }

    /** The definition's UUID in lowercase, or null when it leaves the choice to libvirt. */
    String uuid() {
        return uuid;
    }

    /** The XML to give libvirt. */
    String xml() {
        return Xml.write(doc);
    }

    /**
     * The XML to give libvirt, with {@code existingUuid} added when the definition has none: redefining a
     * domain keeps its UUID (libvirt would otherwise make up a new one and refuse the name as taken).
     */
    String xmlKeeping(String existingUuid) {
        if (uuid != null) {
            return xml();
        }
        Document copy = (Document) doc.cloneNode(true);
        Element domain = copy.getDocumentElement();
        Element uuidElement = copy.createElement("uuid");
        uuidElement.setTextContent(existingUuid);
        Node name = firstChild(domain, "name");
        domain.insertBefore(uuidElement, name.getNextSibling());
        return Xml.write(copy);
    }

    private static String childText(Element parent, String tag) {
        Node n = firstChild(parent, tag);
        return n == null ? null : n.getTextContent().strip();
    }

    private static Node firstChild(Element parent, String tag) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && tag.equals(e.getLocalName()) && e.getNamespaceURI() == null) {
                return e;
            }
        }
        return null;
    }
}
