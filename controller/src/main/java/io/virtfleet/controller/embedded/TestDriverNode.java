package io.virtfleet.controller.embedded;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * A node file for libvirt's test driver ({@code test:///path/node.xml}): a simulated hypervisor with a
 * given size and domains. Each libvirt connection to it gets a private copy, so every embedded agent
 * has a hypervisor of its own.
 */
public final class TestDriverNode {
    private static final String TEST_NS = "http://libvirt.org/schemas/domain/test/1.0";
    /** virDomainState VIR_DOMAIN_SHUTOFF and VIR_DOMAIN_PAUSED, as the test driver's runstate element wants them. */
    private static final int SHUTOFF = 5;
    private static final int PAUSED = 3;

    /**
     * One domain of the node; {@code mac} and {@code bridge} give it a bridged interface (both null: none), as a
     * domain someone defined on the host by hand; {@code diskFile} a raw disk (null: none); {@code paused} a running
     * domain paused (virsh suspend).
     */
    public record Domain(String name, int vcpus, long memoryMiB, boolean running, String mac, String bridge,
                         String diskFile, boolean paused) {
        public Domain(String name, int vcpus, long memoryMiB, boolean running) {
            this(name, vcpus, memoryMiB, running, null, null);
        }

        public Domain(String name, int vcpus, long memoryMiB, boolean running, String mac, String bridge) {
            this(name, vcpus, memoryMiB, running, mac, bridge, null, false);
        }
    }

    private final String name;
    private final int cpus;
    private final long memoryMiB;
    private final List<Domain> domains = new ArrayList<>();
    /** Whole {@code <domain>} definitions, written into the node as they are. */
    private final List<String> handWritten = new ArrayList<>();

    public TestDriverNode(String name, int cpus, long memoryMiB) {
        this.name = name;
        this.cpus = cpus;
        this.memoryMiB = memoryMiB;
    }

    public TestDriverNode domain(String domainName, int vcpus, long domainMemoryMiB, boolean running) {
        domains.add(new Domain(domainName, vcpus, domainMemoryMiB, running));
        return this;
    }

    /** Adds a domain with one interface of MAC {@code mac} on host bridge {@code bridge}. */
    public TestDriverNode bridgedDomain(String domainName, int vcpus, long domainMemoryMiB, boolean running, String mac,
                                        String bridge) {
        domains.add(new Domain(domainName, vcpus, domainMemoryMiB, running, mac, bridge));
        return this;
    }

    /**
     * Adds a domain from a whole {@code <domain type='test'>} definition, as an operator's {@code virsh define} of
     * hand-written XML would leave it (its disk, UUID, interface...); a {@code <test:runstate>5</test:runstate>} child
     * (namespace {@value #TEST_NS}) keeps it shut off. Not listed by {@link #domains()}.
     */
    public TestDriverNode definedByHand(String domainXml) {
        io.virtfleet.common.xml.Xml.parse("domainXml", domainXml, 1 << 20); // refused now, not when the node is written
        handWritten.add(domainXml);
        return this;
    }

    public String name() {
        return name;
    }

    public int cpus() {
        return cpus;
    }

    public long memoryMiB() {
        return memoryMiB;
    }

    public List<Domain> domains() {
        return List.copyOf(domains);
    }

    /**
     * Adds a domain as the runbook made them by hand, on a raw disk: one disk {@code diskFile}, one interface of MAC
     * {@code mac} on host bridge {@code bridge}; running, paused or shut off.
     */
    public TestDriverNode handMadeDomain(String domainName, int vcpus, long domainMemoryMiB, boolean running,
                                         boolean paused, String mac, String bridge, String diskFile) {
        domains.add(new Domain(domainName, vcpus, domainMemoryMiB, running || paused, mac, bridge, diskFile, paused));
        return this;
    }

    /** Writes the node file into {@code dir} and returns the libvirt URI that opens it. */
    public String writeTo(Path dir) throws IOException {
        Path file = dir.toAbsolutePath().resolve(name + ".xml");
        Files.createDirectories(dir);
        try (OutputStream out = Files.newOutputStream(file)) {
            var transformer = TransformerFactory.newInstance().newTransformer();
            transformer.setOutputProperty(OutputKeys.INDENT, "yes");
            transformer.transform(new DOMSource(document()), new StreamResult(out));
        } catch (ParserConfigurationException | TransformerException e) {
            throw new IOException("cannot write test-driver node " + file, e);
        }
        return "test://" + file;
    }

    private Document document() throws ParserConfigurationException {
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().newDocument();
        Element node = doc.createElement("node");
        doc.appendChild(node);
        Element cpu = child(doc, node, "cpu", null);
        child(doc, cpu, "mhz", "2000");
        child(doc, cpu, "model", "x86_64");
        child(doc, cpu, "active", Integer.toString(cpus));
        child(doc, cpu, "nodes", "1");
        child(doc, cpu, "sockets", "1");
        child(doc, cpu, "cores", Integer.toString(cpus));
        child(doc, cpu, "threads", "1");
        child(doc, node, "memory", Long.toString(memoryMiB * 1024));
        for (Domain d : domains) {
            Element domain = child(doc, node, "domain", null);
            domain.setAttribute("type", "test");
            domain.setAttributeNS("http://www.w3.org/2000/xmlns/", "xmlns:test", TEST_NS);
            child(doc, domain, "name", d.name());
            child(doc, domain, "memory", Long.toString(d.memoryMiB())).setAttribute("unit", "MiB");
            child(doc, domain, "vcpu", Integer.toString(d.vcpus()));
            Element os = child(doc, domain, "os", null);
            child(doc, os, "type", "hvm").setAttribute("arch", "x86_64");
            Element devices = d.mac() != null || d.diskFile() != null ? child(doc, domain, "devices", null) : null;
            if (d.diskFile() != null) {
                Element disk = child(doc, devices, "disk", null);
                disk.setAttribute("type", "file");
                disk.setAttribute("device", "disk");
                Element driver = child(doc, disk, "driver", null);
                driver.setAttribute("name", "qemu");
                driver.setAttribute("type", "raw");
                child(doc, disk, "source", null).setAttribute("file", d.diskFile());
                Element target = child(doc, disk, "target", null);
                target.setAttribute("dev", "vda");
                target.setAttribute("bus", "virtio");
            }
            if (d.mac() != null) {
                Element nic = child(doc, devices, "interface", null);
                nic.setAttribute("type", "bridge");
                child(doc, nic, "mac", null).setAttribute("address", d.mac());
                child(doc, nic, "source", null).setAttribute("bridge", d.bridge());
            }
            if (!d.running() || d.paused()) {
                Element runstate = doc.createElementNS(TEST_NS, "test:runstate");
                runstate.setTextContent(Integer.toString(d.paused() ? PAUSED : SHUTOFF));
                domain.appendChild(runstate);
            }
        }
        for (String xml : handWritten) {
            node.appendChild(doc.importNode(io.virtfleet.common.xml.Xml.parse("domainXml", xml, 1 << 20)
                    .getDocumentElement(), true));
        }
        return doc;
    }

    private static Element child(Document doc, Element parent, String tag, String text) {
        Element e = doc.createElement(tag);
        if (text != null) {
            e.setTextContent(text);
        }
        parent.appendChild(e);
        return e;
    }
}
