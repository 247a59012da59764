package io.virtfleet.agent.sync;

import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.metrics.HostMetrics;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.SyncEvent;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * One simulated hypervisor with the agent's real parts for replication: libvirt's test driver (one connection,
 * which holds the node's state), the domain operations with their ledger in a state directory, the definitions
 * clone and its sync, the poller and the host report. Restarting it keeps the state directory, the clone and what
 * libvirt holds, as a real host does when only its agent restarts.
 */
final class ReplicaHost implements AutoCloseable {
    static final String TEST_NS = "http://libvirt.org/schemas/domain/test/1.0";
    /** virDomainState VIR_DOMAIN_SHUTOFF, as the test driver's runstate element wants it. */
    private static final int SHUTOFF = 5;

    final String name;
    final Path dir;
    private final String remote;
    final LibvirtHypervisor hypervisor;
    final HypervisorPoller poller;
    final Domains domains;
    final DefinitionsSync sync;
    final HostReporter reporter;

    /** What libvirt holds under a name, asked directly. */
    record Seen(String uuid, boolean active, boolean autostart, String inactiveXml) {}

    private ReplicaHost(String name, Path dir, String libvirtUri, String remote) {
        this.name = name;
        this.dir = dir;
        this.remote = remote;
        this.hypervisor = new LibvirtHypervisor(libvirtUri, DefinitionLedger.load(stateDir()), Duration.ofMillis(200));
        this.poller = new HypervisorPoller(hypervisor, Duration.ofMillis(100), Duration.ofSeconds(5)).start();
        this.domains = new Domains(hypervisor, dir.resolve("images"), poller::pollSoon);
        DefinitionsSource source = new DefinitionsSource(cloneDir(), remote, "controller.invalid");
        this.sync = new DefinitionsSync(name, source, domains, hypervisor.ledger(), SyncState.load(stateDir()));
        this.reporter = new HostReporter(name, new HostMetrics(dir.resolve("images")), poller, () -> "", sync::status, "",
                io.virtfleet.proto.v1.LibvirtTlsStatus::getDefaultInstance, () -> "");
    }

    /** A host on a node file of its own in {@code dir}, with {@code foreign} domains nobody told virtfleet of. */
    static ReplicaHost start(String name, Path dir, String remote, String... foreignDomainXml) throws Exception {
        Files.createDirectories(dir.resolve("images"));
        return new ReplicaHost(name, dir, writeNode(dir.resolve("node.xml"), List.of(foreignDomainXml), List.of()), remote);
    }

    /**
     * The same host with its agent restarted: libvirt keeps its domains (written into a node file for the next
     * test-driver connection), the agent keeps its state directory and clone.
     */
    ReplicaHost restart() throws Exception {
        List<String> shutOff = new ArrayList<>();
        List<String> running = new ArrayList<>();
        hypervisor.call(conn -> {
            for (String n : conn.listDefinedDomains()) {
                shutOff.add(conn.domainLookupByName(n).getXMLDesc(2));
            }
            for (int id : conn.listDomains()) {
                running.add(conn.domainLookupByID(id).getXMLDesc(2));
            }
            return null;
        });
        close();
        Path node = dir.resolve("node-" + System.nanoTime() + ".xml");
        return new ReplicaHost(name, dir, writeNode(node, shutOff, running), remote);
    }

    Path stateDir() {
        return dir.resolve("state");
    }

    Path cloneDir() {
        return dir.toAbsolutePath().normalize().resolve("srv/common");
    }

    /** Runs one sync to {@code commit} (empty: whatever main is) and returns its events; rethrows its failure. */
    List<SyncEvent> sync(String commit) throws Exception {
        List<SyncEvent> events = new ArrayList<>();
        try {
            sync.run(commit, events::add).get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
        return events;
    }

    Optional<Seen> seen(String domain) throws LibvirtException {
        return hypervisor.call(conn -> {
            Domain d = lookup(conn, domain);
            if (d == null) {
                return Optional.empty();
            }
            try {
                return Optional.of(new Seen(d.getUUIDString(), d.isActive() == 1, d.getAutostart(), d.getXMLDesc(2)));
            } finally {
                d.free();
            }
        });
    }

    /** Defines a domain as an operator would with virsh define: past virtfleet, on the host's libvirt. */
    void defineByHand(String xml) throws LibvirtException {
        hypervisor.call(conn -> {
            conn.domainDefineXML(xml).free();
            return null;
        });
    }

    /** Starts a domain past virtfleet, as an operator would with virsh start. */
    void startByHand(String domain) throws LibvirtException {
        hypervisor.call(conn -> {
            Domain d = conn.domainLookupByName(domain);
            d.create();
            d.free();
            return null;
        });
    }

    /** The domain as the host's report shows it, once the report satisfies {@code until} (within 10 s). */
    DomainInfo reported(String domain, Predicate<DomainInfo> until) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        DomainInfo last = null;
        while (System.nanoTime() < deadline) {
            Optional<DomainInfo> found = reporter.report().getDomainsList().stream()
                    .filter(d -> d.getName().equals(domain)).findFirst();
            if (found.isPresent()) {
                last = found.get();
                if (until.test(last)) {
                    return last;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("the report of " + name + " never showed " + domain + " as expected; last: " + last);
    }

    private static Domain lookup(Connect conn, String name) throws LibvirtException {
        try {
            return conn.domainLookupByName(name);
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_NO_DOMAIN) {
                return null;
            }
            throw e;
        }
    }

    /** A test-driver node file holding the given domains, shut off or running; returns its URI. */
    private static String writeNode(Path file, List<String> shutOff, List<String> running) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        Document doc = factory.newDocumentBuilder().newDocument();
        Element node = doc.createElement("node");
        doc.appendChild(node);
        Element cpu = child(node, "cpu", null);
        child(cpu, "mhz", "2000");
        child(cpu, "model", "x86_64");
        child(cpu, "active", "4");
        child(cpu, "nodes", "1");
        child(cpu, "sockets", "1");
        child(cpu, "cores", "4");
        child(cpu, "threads", "1");
        child(node, "memory", Long.toString(8L * 1024 * 1024));
        for (String xml : shutOff) {
            addDomain(node, xml, false, factory);
        }
        for (String xml : running) {
            addDomain(node, xml, true, factory);
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            TransformerFactory.newInstance().newTransformer().transform(new DOMSource(doc), new StreamResult(out));
        }
        return "test://" + file.toAbsolutePath();
    }

    private static void addDomain(Element node, String xml, boolean running, DocumentBuilderFactory factory) throws Exception {
        Document parsed = factory.newDocumentBuilder().parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
        Element domain = (Element) node.getOwnerDocument().importNode(parsed.getDocumentElement(), true);
        if (!running) {
            Element runstate = node.getOwnerDocument().createElementNS(TEST_NS, "test:runstate");
            runstate.setTextContent(Integer.toString(SHUTOFF));
            domain.appendChild(runstate);
        }
        node.appendChild(domain);
    }

    private static Element child(Element parent, String tag, String text) {
        Element e = parent.getOwnerDocument().createElement(tag);
        if (text != null) {
            e.setTextContent(text);
        }
        parent.appendChild(e);
        return e;
    }

    @Override
    public void close() {
        sync.close();
        domains.close();
        poller.close();
        hypervisor.close();
    }
}
