package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.install.InstallToken;
import io.virtfleet.common.validation.InvalidInputException;
import java.nio.file.Path;
import java.util.Set;
import java.util.regex.Pattern;
import org.w3c.dom.Attr;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;

/**
 * What a domain definition may reach on the host, checked by the agent whatever the controller rendered:
 * libvirt runs QEMU as root here, so a definition is a way to run programs and open files. A definition
 * may use its own disk ({@code <images-dir>/<vm>.img}, or an RBD image named after the VM) and host
 * bridges, and boot the Debian installer's kernel and initrd of the agent's {@code installer-dir} (direct kernel
 * boot); it may not name other host programs, files or devices, open sockets on the host's network (tcp or udp
 * character devices, an EGD entropy daemon), pass host hardware through, or carry
 * elements of other namespaces (QEMU command-line passthrough) outside {@code <metadata>}.
 */
final class DefinitionRules {
    /** Elements that name a host program, file or device, or hand host hardware to the guest. */
    private static final Set<String> FORBIDDEN = Set.of("emulator", "dtb", "loader", "nvram",
            "script", "hostdev", "filesystem");
    /** The kernel command line goes to the guest only; bounded like Linux's own (2048 bytes on x86). */
    private static final int MAX_CMDLINE = 2048;
    /** Attributes that name a host path wherever they appear. */
    private static final Set<String> PATH_ATTRIBUTES = Set.of("file", "path", "dir", "socket");
    private static final Set<String> ENTROPY_SOURCES = Set.of("/dev/urandom", "/dev/random", "/dev/hwrng");
    /** Character device (and NIC backend) types that open a socket on the host's network. */
    private static final Set<String> SOCKETS = Set.of("tcp", "udp");
    private static final Pattern POOL = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,99}");
    private static final String FIELD = "domain_xml";
    private static final String SCOPE = "a definition that uses only its own disk and host bridges";

    private DefinitionRules() {}

    /**
     * Throws InvalidInputException naming the first element or attribute that reaches beyond the VM's own.
     *
     * @param installTokenLength the length of the install token that is to replace {@link InstallToken#PLACEHOLDER}
     *                           in the kernel command line after this check (0: none); the definition is checked as
     *                           sent, so that no refusal can carry the token, and the command line's bound counts it
     */
    static void check(String vmName, Element domain, Path imagesDirectory, InstallerFiles installer,
                      int installTokenLength) {
        String ownImage = imagesDirectory.toAbsolutePath().normalize().resolve(vmName + ".img").toString();
        walk(vmName, domain, "domain", ownImage, installer, installTokenLength);
    }

    private static void walk(String vmName, Element e, String where, String ownImage, InstallerFiles installer,
                             int installTokenLength) {
        if (e.getNamespaceURI() != null) {
            throw new InvalidInputException(FIELD, where, SCOPE + "; <" + e.getNodeName() + "> passes settings to the"
                    + " hypervisor past libvirt: elements of other namespaces (" + e.getNamespaceURI() + ") belong inside"
                    + " <metadata> only");
        }
        String name = e.getLocalName();
        if (FORBIDDEN.contains(name)) {
            throw new InvalidInputException(FIELD, where, SCOPE + "; <" + name
                    + "> would name a host program, file or device (the host's defaults are used)");
        }
        if (name.equals("disk")) {
            disk(vmName, e, where, ownImage);
        }
        if (name.equals("kernel") || name.equals("initrd")) {
            installerFile(e, where, installer);
        }
        if (name.equals("cmdline")) {
            cmdline(e, where, installTokenLength);
        }
        if (name.equals("backend") && e.getParentNode() instanceof Element rng && "rng".equals(rng.getLocalName())
                && "random".equals(e.getAttribute("model")) && !ENTROPY_SOURCES.contains(e.getTextContent().strip())) {
            throw new InvalidInputException(FIELD + " " + where, e.getTextContent().strip(),
                    "an entropy source among " + ENTROPY_SOURCES);
        }
        if (name.equals("backend") && e.getParentNode() instanceof Element rng && "rng".equals(rng.getLocalName())
                && "egd".equals(e.getAttribute("model"))) {
            throw new InvalidInputException(FIELD + " " + where + "/@model", "egd", "a random backend (an entropy source"
                    + " among " + ENTROPY_SOURCES + "): an EGD backend reaches a daemon over a socket or the network");
        }
        if (SOCKETS.contains(e.getAttribute("type")) && (isDevice(e) || "backend".equals(name))) {
            throw new InvalidInputException(FIELD + " " + where + "/@type", e.getAttribute("type"), SCOPE
                    + "; a " + e.getAttribute("type") + " <" + name + "> listens on or connects to the host's network"
                    + " (use type pty: virsh console reaches it on the host)");
        }
        NamedNodeMap attributes = e.getAttributes();
        for (int i = 0; i < attributes.getLength(); i++) {
            Attr a = (Attr) attributes.item(i);
            if (PATH_ATTRIBUTES.contains(a.getLocalName()) && !isOwnImage(e, a, ownImage)) {
                throw new InvalidInputException(FIELD + " " + where + "/@" + a.getLocalName(), a.getValue(),
                        SCOPE + "; the only host file a definition may name is its own image " + ownImage);
            }
        }
        for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element child) {
                if (child.getNamespaceURI() == null && "metadata".equals(child.getLocalName()) && e == e.getOwnerDocument()
                        .getDocumentElement()) {
                    continue; // inert for libvirt: applications keep their own notes there
                }
                // As written (with its prefix, e.g. qemu:commandline): the path names what the operator wrote.
                walk(vmName, child, where + "/" + child.getNodeName(), ownImage, installer, installTokenLength);
            }
        }
    }

    /** Whether {@code e} is one of the domain's {@code <devices>}. */
    private static boolean isDevice(Element e) {
        return e.getParentNode() instanceof Element parent && "devices".equals(parent.getLocalName())
                && parent.getParentNode() == e.getOwnerDocument().getDocumentElement();
    }

    /**
     * A {@code <kernel>} or {@code <initrd>} may only be the installer's, in the domain's {@code <os>}: QEMU reads
     * the file as root, so any other path would hand a host file to the guest.
     */
    private static void installerFile(Element e, String where, InstallerFiles installer) {
        String name = e.getLocalName();
        if (!(e.getParentNode() instanceof Element os) || !"os".equals(os.getLocalName())
                || os.getParentNode() != e.getOwnerDocument().getDocumentElement()) {
            throw new InvalidInputException(FIELD, where, SCOPE + "; <" + name + "> belongs in the domain's <os>");
        }
        String path = e.getTextContent().strip();
        if (installer == null || !installer.available()) {
            throw new InvalidInputException(FIELD + " " + where, path, "no <" + name + ">: this host has no Debian"
                    + " installer files to boot" + (installer == null ? "" : " (" + installer.kernel() + " and "
                    + installer.initrd() + " are missing: install debian-installer-12-netboot-amd64 or set the"
                    + " agent's installer-dir)"));
        }
        String allowed = (name.equals("kernel") ? installer.kernel() : installer.initrd()).toString();
        if (!allowed.equals(path)) {
            throw new InvalidInputException(FIELD + " " + where, path, "the installer's " + name + " of this host, "
                    + allowed + " (the only " + name + " a definition may boot)");
        }
    }

    /** The command line as sent (placeholder, not token), bounded by its length once the token is put in. */
    private static void cmdline(Element e, String where, int installTokenLength) {
        String text = e.getTextContent();
        boolean printable = text.chars().allMatch(c -> c >= 0x20 && c < 0x7f);
        int placeholders = installTokenLength == 0 ? 0 : text.split(InstallToken.PLACEHOLDER, -1).length - 1;
        int length = text.length() + placeholders * (installTokenLength - InstallToken.PLACEHOLDER.length());
        if (length > MAX_CMDLINE || !printable) {
            throw new InvalidInputException(FIELD + " " + where, text, "a kernel command line of at most " + MAX_CMDLINE
                    + " printable ASCII characters" + (length == text.length() ? ""
                    : " (this one has " + length + " once the install token replaces " + InstallToken.PLACEHOLDER + ")"));
        }
    }

    /** A file disk must be the VM's own image; a network disk its own RBD image; nothing else. */
    private static void disk(String vmName, Element disk, String where, String ownImage) {
        String type = disk.getAttribute("type");
        if (type.equals("file")) {
            return; // its source file is checked with the other path attributes
        }
        if (!type.equals("network")) {
            throw new InvalidInputException(FIELD + " " + where + "/@type", type,
                    "a disk of type file (the VM's image " + ownImage + ") or network (Ceph RBD)");
        }
        for (Node n = disk.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element source && "source".equals(source.getLocalName())) {
                String image = source.getAttribute("name");
                int slash = image.indexOf('/');
                if (!"rbd".equals(source.getAttribute("protocol")) || slash < 0
                        || !POOL.matcher(image.substring(0, slash)).matches() || !image.substring(slash + 1).equals(vmName)) {
                    throw new InvalidInputException(FIELD + " " + where + "/source",
                            source.getAttribute("protocol") + ":" + image, "an RBD image of this VM, rbd:<pool>/" + vmName);
                }
            }
        }
    }

    private static boolean isOwnImage(Element owner, Attr attribute, String ownImage) {
        return "file".equals(attribute.getLocalName()) && "source".equals(owner.getLocalName())
                && owner.getParentNode() instanceof Element disk && "disk".equals(disk.getLocalName())
                && ownImage.equals(attribute.getValue());
    }
}
