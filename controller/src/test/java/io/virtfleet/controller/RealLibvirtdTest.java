package io.virtfleet.controller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * An agent against a real libvirtd (QEMU driver, TCG: no KVM needed) started by the test in its own mount
 * namespace, with a real running qemu domain, seen through the controller's fleet API.
 *
 * <p>Needs root and the Debian packages {@value LibvirtdNode#PACKAGES}; fails (does not skip) without them.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RealLibvirtdTest {
    private static final String HOST = "hv-real";
    private static final String DOMAIN = "vf-real-vm1";
    /** TCG: this machine has no /dev/kvm. A real hypervisor would use "kvm". */
    private static final String DOMAIN_TYPE = System.getProperty("virtfleet.test.domainType", "qemu");
    private static final int VCPUS = 1;
    private static final long MEMORY_MIB = 96;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path tmp;

    /** QEMU capabilities probed by the first node of the run; later nodes start with them (saves ~8 s). */
    @TempDir
    static Path capabilitiesCache;

    private LibvirtdNode node;
    private EmbeddedFleet fleet;
    private Agent agent;
    private Transport clientTransport;
    private ManagedChannel channel;
    private final List<Long> processesThatMustEnd = new ArrayList<>();
    private final long t0 = System.nanoTime();

    @Test
    void agentReportsRunningDomainOfRealLibvirtdThroughController() throws Exception {
        startNode();
        String uuid = defineAndStartDomain();
        startFleetAndAgent();

        Host host = awaitHost("domain " + DOMAIN + " running", h -> h.getState() == HostState.HOST_STATE_READY
                && domain(h).map(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).orElse(false));
        assertEquals("QEMU", host.getReport().getHypervisor().getType());
        assertEquals(node.uri(), host.getReport().getHypervisor().getUri());
        assertEquals("", host.getReport().getHypervisor().getError());
        assertEquals("heartbeats on time", host.getStateReason());
        DomainInfo d = domain(host).orElseThrow();
        assertEquals(uuid, d.getUuid());
        assertEquals(VCPUS, d.getVcpus());
        assertEquals(MEMORY_MIB * 1024 * 1024, d.getMemoryBytes());
        assertEquals(MEMORY_MIB * 1024 * 1024, d.getMaxMemoryBytes());
        assertTrue(d.getPersistent());
        assertFalse(d.getAutostart());
        assertTrue(host.getReport().getHypervisor().getNodeCpus() > 0);
        assertTrue(host.getReport().getHypervisor().getLibvirtVersion().matches("\\d+\\.\\d+\\.\\d+"));
        // The controller's own registry agrees with what the fleet API returned.
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, fleet.controller().registry().get(HOST).orElseThrow()
                .report().getDomainsList().stream().filter(x -> x.getName().equals(DOMAIN)).findFirst().orElseThrow()
                .getState());
        lap("running domain reported");

        withDomain(Domain::destroy);
        host = awaitHost("domain " + DOMAIN + " shut off", h -> h.getState() == HostState.HOST_STATE_READY
                && domain(h).map(x -> x.getState() == DomainState.DOMAIN_STATE_SHUTOFF).orElse(false));
        assertEquals(uuid, domain(host).orElseThrow().getUuid());
        lap("shut-off domain reported");
    }

    @Test
    void hostTurnsDegradedWhileLibvirtdIsDownAndReadyWhenItIsBack() throws Exception {
        startNode();
        defineAndStartDomain();
        startFleetAndAgent();
        awaitHost("domain " + DOMAIN + " running", h -> h.getState() == HostState.HOST_STATE_READY
                && domain(h).map(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).orElse(false));
        lap("ready with running domain");

        node.stopDaemon();
        lap("libvirtd stopped");
        Host degraded = awaitHost("host degraded", h -> h.getState() == HostState.HOST_STATE_DEGRADED);
        String reason = degraded.getStateReason();
        String prefix = "libvirt at " + node.uri() + ": ";
        assertTrue(reason.startsWith(prefix), "state reason names the libvirt URI: " + reason);
        String libvirtMessage = reason.substring(prefix.length());
        // libvirt's own words, e.g. "Failed to connect socket to '.../libvirt-sock': No such file or directory"
        // (or the broken connection's "End of file while reading data" on the first attempt).
        assertFalse(libvirtMessage.isBlank(), reason);
        assertEquals(reason, degraded.getReport().getHypervisor().getError());
        assertTrue(degraded.getReport().getDomainsStale(), "domains are the last known ones");
        assertTrue(domain(degraded).isPresent(), "the running domain is not forgotten while libvirt is away");
        awaitHost("host degraded because the socket is gone", h -> h.getState() == HostState.HOST_STATE_DEGRADED
                && h.getStateReason().contains("Failed to connect socket to '" + node.socket() + "'"));
        lap("degraded reported");
        // The agent's own gRPC health answer (what a probe of the agent sees) follows libvirt too.
        awaitAgentHealth(io.grpc.health.v1.HealthCheckResponse.ServingStatus.NOT_SERVING);
        lap("agent health NOT_SERVING");

        node.startDaemon();
        node.pid().ifPresent(processesThatMustEnd::add);
        lap("libvirtd started again");
        // The agent reconnects by itself; qemu kept running while libvirtd was away, and libvirtd reattaches it.
        Host back = awaitHost("host ready again with the domain still running",
                h -> h.getState() == HostState.HOST_STATE_READY
                        && domain(h).map(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).orElse(false));
        assertEquals("heartbeats on time", back.getStateReason());
        assertEquals("", back.getReport().getHypervisor().getError());
        lap("ready again");
        awaitAgentHealth(io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
        lap("agent health SERVING");
    }

    @Test
    void hungLibvirtdMakesTheHostDegradedNotUnreachable() throws Exception {
        startNode();
        defineAndStartDomain();
        startFleetAndAgent();
        awaitHost("domain " + DOMAIN + " running", h -> h.getState() == HostState.HOST_STATE_READY
                && domain(h).map(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).orElse(false));
        long libvirtd = node.pid().orElseThrow();

        signal("STOP", libvirtd); // libvirtd freezes: every libvirt call now hangs
        List<HostState> seen = new ArrayList<>();
        Host hung;
        try {
            hung = awaitHost("host degraded: libvirt not answering", h -> {
                seen.add(h.getState());
                return h.getState() == HostState.HOST_STATE_DEGRADED;
            });
        } finally {
            signal("CONT", libvirtd);
        }
        assertFalse(seen.contains(HostState.HOST_STATE_UNREACHABLE), "heartbeats never waited for libvirt: " + seen);
        assertTrue(hung.getStateReason().startsWith("libvirt at " + node.uri() + ": no answer for "), hung.getStateReason());
        assertTrue(hung.getReport().getDomainsStale());
        assertTrue(domain(hung).isPresent(), "last known domains still listed");
        lap("hung libvirtd reported as degraded");

        awaitHost("ready again once libvirtd answers", h -> h.getState() == HostState.HOST_STATE_READY
                && !h.getReport().getDomainsStale());
        lap("ready again");
    }

    private static void signal(String name, long pid) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        assertEquals(0, kill.waitFor(), "kill -" + name + " " + pid);
    }

    @AfterEach
    void tearDown() {
        List<Throwable> problems = new ArrayList<>();
        run(problems, () -> {
            if (channel != null) {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        });
        run(problems, () -> {
            if (clientTransport != null) {
                clientTransport.close();
            }
        });
        run(problems, () -> {
            if (agent != null) {
                agent.close();
            }
        });
        run(problems, () -> {
            if (fleet != null) {
                fleet.close();
            }
        });
        run(problems, () -> {
            if (node != null) {
                node.close();
                if (!Files.isDirectory(capabilitiesCache.resolve("qemu"))) {
                    node.exportCache(capabilitiesCache);
                }
            }
        });
        lap("cleaned up");
        // No libvirtd or qemu may outlive the test, whatever happened above.
        for (long pid : processesThatMustEnd) {
            Optional<ProcessHandle> p = ProcessHandle.of(pid);
            if (p.isPresent() && p.get().isAlive()) {
                problems.add(new AssertionError("process " + pid + " (" + p.get().info().commandLine().orElse("?")
                        + ") still running after cleanup"));
                p.get().destroyForcibly();
            }
        }
        if (!problems.isEmpty()) {
            AssertionError e = new AssertionError("cleanup failed: " + problems.get(0), problems.get(0));
            problems.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    private void startNode() {
        try {
            LibvirtdNode.Options options = LibvirtdNode.Options.defaults();
            if (Files.isDirectory(capabilitiesCache.resolve("qemu"))) {
                options = options.seedCacheFrom(capabilitiesCache);
            }
            node = LibvirtdNode.start(tmp.resolve("nodes").resolve(HOST), HOST, options);
        } catch (IOException | RuntimeException e) {
            // Fail, never skip: CI must not go green without having run against a real libvirtd.
            fail("this test needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                    + ") and could not start one: " + e.getMessage(), e);
        }
        node.pid().ifPresent(processesThatMustEnd::add);
        lap("libvirtd up, pid " + node.pid().orElse(-1L));
    }

    /** Defines and starts the domain through libvirt-java directly, as an operator would with virsh. */
    private String defineAndStartDomain() throws Exception {
        Connect conn = new Connect(node.uri(), false);
        try {
            Domain d = conn.domainDefineXML(domainXml());
            try {
                d.create();
                lap("domain started");
                Path pidFile = node.dir().resolve("run").resolve("qemu").resolve(DOMAIN + ".pid");
                processesThatMustEnd.add(Long.parseLong(Files.readString(pidFile).strip()));
                return d.getUUIDString();
            } finally {
                d.free();
            }
        } finally {
            conn.close();
        }
    }

    private interface DomainAction {
        void apply(Domain d) throws LibvirtException;
    }

    private void withDomain(DomainAction action) throws LibvirtException {
        Connect conn = new Connect(node.uri(), false);
        try {
            Domain d = conn.domainLookupByName(DOMAIN);
            try {
                action.apply(d);
            } finally {
                d.free();
            }
        } finally {
            conn.close();
        }
    }

    /** A small TCG guest with no disk: SeaBIOS finds nothing to boot and idles, which is all we need. */
    static String domainXml() throws Exception {
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().newDocument();
        Element domain = doc.createElement("domain");
        domain.setAttribute("type", DOMAIN_TYPE);
        doc.appendChild(domain);
        text(doc, domain, "name", DOMAIN);
        text(doc, domain, "memory", Long.toString(MEMORY_MIB)).setAttribute("unit", "MiB");
        text(doc, domain, "currentMemory", Long.toString(MEMORY_MIB)).setAttribute("unit", "MiB");
        text(doc, domain, "vcpu", Integer.toString(VCPUS));
        Element os = text(doc, domain, "os", null);
        Element type = text(doc, os, "type", "hvm");
        type.setAttribute("arch", "x86_64");
        type.setAttribute("machine", "pc");
        text(doc, os, "boot", null).setAttribute("dev", "hd");
        text(doc, domain, "on_poweroff", "destroy");
        text(doc, domain, "on_reboot", "restart");
        text(doc, domain, "on_crash", "destroy");
        Element devices = text(doc, domain, "devices", null);
        text(doc, devices, "serial", null).setAttribute("type", "pty");
        text(doc, devices, "memballoon", null).setAttribute("model", "none");
        var transformer = TransformerFactory.newInstance().newTransformer();
        transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
        transformer.setOutputProperty(OutputKeys.INDENT, "yes");
        StringWriter out = new StringWriter();
        transformer.transform(new DOMSource(doc), new StreamResult(out));
        return out.toString();
    }

    private static Element text(Document doc, Element parent, String tag, String content) {
        Element e = doc.createElement(tag);
        if (content != null) {
            e.setTextContent(content);
        }
        parent.appendChild(e);
        return e;
    }

    private void startFleetAndAgent() throws IOException {
        fleet = EmbeddedFleet.builder(tmp.resolve("fleet"))
                .nodes(List.of())
                .heartbeat(Duration.ofMillis(500))
                .grace(Duration.ofSeconds(5))
                .build()
                .start();
        AgentConfig config = fleet.agentConfig(HOST, tmp.resolve("agents").resolve(HOST), node.uri())
                .withJoinToken(fleet.joinToken(HOST));
        agent = Agent.create(config);
        try {
            agent.start();
        } catch (io.virtfleet.agent.enrollment.Enroller.RefusedException | InterruptedException e) {
            throw new IllegalStateException("agent could not start", e);
        }
        clientTransport = Transport.secure("test-client", 1, io.virtfleet.common.security.CredentialsBundle.read(fleet.adminCredentials()));
        channel = clientTransport.channel(fleet.controllerEndpoint(), io.virtfleet.common.security.FleetIdentity.controller(), Runnable::run);
        lap("controller and agent started");
    }

    /** Asks the agent's grpc.health.v1.Health (as an operator) until it answers {@code expected}. */
    private void awaitAgentHealth(io.grpc.health.v1.HealthCheckResponse.ServingStatus expected) throws InterruptedException {
        ManagedChannel toAgent = clientTransport.channel(new io.virtfleet.common.validation.Endpoint("127.0.0.1", agent.port()),
                io.virtfleet.common.security.FleetIdentity.agent(HOST), Runnable::run);
        try {
            io.virtfleet.controller.testkit.Await.until("agent health " + expected, WAIT, () ->
                    io.grpc.health.v1.HealthGrpc.newBlockingStub(toAgent).withDeadlineAfter(10, TimeUnit.SECONDS)
                            .check(io.grpc.health.v1.HealthCheckRequest.getDefaultInstance()).getStatus() == expected);
        } finally {
            toAgent.shutdownNow();
        }
    }

    /** Polls the fleet API until the host matches; fails with the last view and libvirtd's log otherwise. */
    private Host awaitHost(String what, Predicate<Host> condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Host last = null;
        StatusRuntimeException lastError = null;
        while (System.nanoTime() < deadline) {
            try {
                last = FleetGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .getHost(GetHostRequest.newBuilder().setName(HOST).build());
                lastError = null;
                if (condition.test(last)) {
                    return last;
                }
            } catch (StatusRuntimeException e) {
                lastError = e; // NOT_FOUND until the agent registered
            }
            Thread.sleep(100);
        }
        fail("not within " + WAIT.toSeconds() + " s: " + what + ".\nLast view of the host: "
                + (last == null ? "(none)" : json(last)) + (lastError == null ? "" : "\nLast error: " + lastError)
                + "\n" + node.diagnostics());
        return last;
    }

    private static Optional<DomainInfo> domain(Host h) {
        return h.getReport().getDomainsList().stream().filter(d -> d.getName().equals(DOMAIN)).findFirst();
    }

    private static String json(Host h) {
        try {
            return JsonFormat.printer().print(h);
        } catch (InvalidProtocolBufferException e) {
            return h.toString();
        }
    }

    private void lap(String what) {
        System.out.printf("[%6d ms] %s%n", (System.nanoTime() - t0) / 1_000_000, what);
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void run(List<Throwable> problems, Step step) {
        try {
            step.run();
        } catch (Exception | AssertionError e) {
            problems.add(e);
        }
    }
}
