package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.autostart.BootMark;
import io.virtfleet.agent.autostart.BootStarts;
import io.virtfleet.agent.autostart.HostBoot;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

/**
 * A host coming back after it was lost, on a real libvirtd (QEMU/TCG) with the agent and the controller in this JVM:
 * hv1 runs web (defined and started through the agent's API, as the controller does, autostart on) and mine; while
 * its agent is down web's record names another home and the controller fences hv1. The agent starts again: its
 * Register answer orders the stand-down, and it destroys web's QEMU (web stays defined, autostart off) and leaves
 * mine running; the controller shows hv1 degraded, standing down against the repository's commit. Unfenced, hv1 is
 * ready again and web stays off.
 *
 * <p>A host that boots (libvirtd and its QEMUs killed, /run emptied, libvirtd started; the agent's boot identity from a
 * file the test changes): libvirtd starts no domain virtfleet defined (their libvirt autostart is off), only a domain
 * of its own whose flag is on (canary, which shows that libvirtd's boot autostart has run). The agent starts the
 * VMs defined with autostart once the controller has answered, once per boot; booted while lost, with web homed
 * elsewhere and hv1 confirmed down without any blocklist, web's QEMU is never started: the stand-down clears its
 * autostart before the start gate opens.
 *
 * <p>Needs root and the Debian packages {@value LibvirtdNode#PACKAGES}; fails (does not skip) without them. No
 * network namespace or underlay subnet: the guests have no network.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class StandDownRealLibvirtdTest {
    private static final String HOST = "hv1";
    private static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path tmp;

    private LibvirtdNode node;
    private EmbeddedFleet fleet;
    private Agent agent;
    private Path bootId;
    private Transport operatorTransport;
    private Transport controllerTransport;
    private ManagedChannel operatorChannel;
    private final List<Long> processesThatMustEnd = new ArrayList<>();
    private final long t0 = System.nanoTime();

    @Test
    void aReturningHostDestroysTheDomainWhoseHomeMovedWhenItsAgentStartsAgain() throws Exception {
        startNode();
        fleet = EmbeddedFleet.builder(tmp.resolve("fleet")).nodes(List.of()).heartbeat(Duration.ofMillis(300))
                .grace(Duration.ofSeconds(5)).reconcileInterval(Duration.ofHours(1)) // no pass acts on the records
                .build().start();
        operatorTransport = Transport.secure("test-operator", 1, CredentialsBundle.read(fleet.adminCredentials()));
        operatorChannel = operatorTransport.channel(fleet.controllerEndpoint(), FleetIdentity.controller(),
                Runnable::run);
        startAgent();
        awaitHost("hv1 ready", h -> h.getState() == HostState.HOST_STATE_READY);
        awaitAgent("the agent heard the controller's answer", () -> agent.standDown().refusesStarts().isEmpty());

        // web and mine are hv1's VMs: in the repository, and defined and running there as the controller makes them.
        record("web", HOST);
        record("mine", HOST);
        asController(agent -> {
            for (String vm : List.of("web", "mine")) {
                agent.defineDomain(DefineDomainRequest.newBuilder().setVmName(vm).setDomainXml(domainXml(vm))
                        .setAutostart(true).build());
                agent.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName(vm).setRunning(true).build());
            }
        });
        long webQemu = qemuPid("web");
        processesThatMustEnd.add(webQemu);
        processesThatMustEnd.add(qemuPid("mine"));
        lap("web and mine run on hv1");

        // hv1 is lost: its agent stops (QEMU goes on), web gets another home, the controller fences hv1.
        agent.close();
        agent = null;
        record("web", "hv2");
        String head = fleet.controller().vmStore().repo().headNow();
        Instant now = Instant.now();
        ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).record(new Fence(HOST, Fence.Kind.CONFIRMED_DOWN, List.of(),
                now, null, "alice"));
        assertTrue(libvirt("web").active(), "web's QEMU still runs on hv1");
        lap("hv1 fenced, web homed on hv2 at " + head);

        // hv1's agent starts again: the controller's first answer makes it stand down.
        startAgent();
        Host standing = awaitHost("hv1 stood down", h -> head.equals(h.getReport().getStoodDownCommit()));
        lap("hv1 stood down");
        Seen web = libvirt("web");
        assertFalse(web.active(), "web's QEMU on hv1 is destroyed");
        assertTrue(web.persistent(), "destroyed, not undefined");
        assertFalse(web.autostart(), "libvirtd must not start it again");
        assertTrue(waitGone(webQemu), "web's QEMU process " + webQemu + " has ended");
        Seen mine = libvirt("mine");
        assertTrue(mine.active() && !mine.autostart(), "hv1's own VM is left alone (libvirt's own autostart off)");
        assertTrue(reported(standing, "mine").getAutostart(), "hv1's own VM still starts with the host, by the agent");
        assertFalse(reported(standing, "web").getAutostart(), "web is not: its home moved");
        assertTrue(standing.getReport().getStandingDown());
        assertEquals("", standing.getReport().getStandDownError());
        Host judged = awaitHost("hv1 judged fenced, back and stood down", h -> h.getState() == HostState.HOST_STATE_FENCED
                && h.getStateReason().contains("back: standing down"));
        assertTrue(judged.getStateReason().contains("back: standing down (fenced): takes and starts no VM;"
                + " stood down against definitions " + head.substring(0, 12)), judged.getStateReason());

        // Unfenced: ready again, and web stays off.
        ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).remove(HOST);
        awaitHost("hv1 ready once unfenced", h -> h.getState() == HostState.HOST_STATE_READY
                && !h.getReport().getStandingDown());
        assertFalse(libvirt("web").active());
        lap("unfenced: ready");
    }

    @Test
    void aBootedHostStartsItsVmsThroughItsAgentOnceAnsweredAndNeverOneWhoseHomeMoved() throws Exception {
        startNode();
        fleet = EmbeddedFleet.builder(tmp.resolve("fleet")).nodes(List.of()).heartbeat(Duration.ofMillis(300))
                .grace(Duration.ofSeconds(5)).reconcileInterval(Duration.ofHours(1)) // every start here is the agent's
                .build().start();
        operatorTransport = Transport.secure("test-operator", 1, CredentialsBundle.read(fleet.adminCredentials()));
        operatorChannel = operatorTransport.channel(fleet.controllerEndpoint(), FleetIdentity.controller(),
                Runnable::run);
        bootId = tmp.resolve("boot_id");
        Files.writeString(bootId, "boot-1\n");
        startAgent();
        awaitHost("hv1 ready", h -> h.getState() == HostState.HOST_STATE_READY);
        // The agent's first start marks the running boot as libvirt's: when the gate opens it is served already.
        assertEquals(BootMark.Decision.ALREADY_SERVED, bootOutcome().decision(), "boot-1 was libvirt's to serve");

        // web and mine are hv1's VMs, defined with autostart and started as the controller does. canary is no VM of
        // virtfleet's: libvirt's own autostart on, it shows when libvirtd has made its boot's autostarts.
        record("web", HOST);
        record("mine", HOST);
        asController(agent -> {
            for (String vm : List.of("web", "mine")) {
                agent.defineDomain(DefineDomainRequest.newBuilder().setVmName(vm).setDomainXml(domainXml(vm))
                        .setAutostart(true).build());
                agent.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName(vm).setRunning(true).build());
            }
        });
        defineByHandWithLibvirtAutostart("canary");
        assertFalse(libvirt("web").autostart(), "libvirt's own autostart of a virtfleet domain stays off");
        awaitHost("web reported as started with the host", h -> h.getReport().getDomainsList().stream().anyMatch(d ->
                d.getName().equals("web") && d.getAutostart() && !d.getLibvirtAutostart()));
        lap("web and mine run on hv1");

        // hv1 boots again (power loss): libvirtd starts canary, and neither web nor mine.
        agent.close();
        agent = null;
        boot("boot-2");
        assertFalse(libvirt("web").active(), "libvirt must not start web at boot");
        assertFalse(libvirt("mine").active());
        // The agent starts them once the controller has answered, ordering no stand-down.
        startAgent();
        BootStarts.Outcome booted = bootOutcome();
        assertEquals(BootMark.Decision.START, booted.decision());
        assertEquals(List.of("mine", "web"), booted.started(), booted.failed().toString());
        assertTrue(libvirt("web").active() && libvirt("mine").active());
        lap("boot-2: the agent started web and mine");

        // An operator stops mine; the agent restarts during the same boot: mine stays off.
        asController(agent -> agent.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName("mine")
                .setRunning(false).setShutdownTimeoutMs(1).build()));
        agent.close();
        startAgent();
        assertEquals(BootMark.Decision.ALREADY_SERVED, bootOutcome().decision());
        assertFalse(libvirt("mine").active(), "stopped since the boot: the agent's restart does not start it");

        // hv1 is lost: web gets another home, hv1 is confirmed down (nothing on Ceph's blocklist) and boots again.
        agent.close();
        agent = null;
        record("web", "hv2");
        String head = fleet.controller().vmStore().repo().headNow();
        ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).record(new Fence(HOST,
                Fence.Kind.CONFIRMED_DOWN, List.of(), Instant.now(), null, "alice"));
        boot("boot-3");
        assertFalse(libvirt("web").active(), "libvirt must not start web at boot: it runs on hv2 now");
        startAgent();
        Host standing = awaitHost("hv1 stood down", h -> head.equals(h.getReport().getStoodDownCommit()));
        assertFalse(reported(standing, "web").getAutostart(), "web's home moved: the stand-down cleared its autostart");
        assertFalse(agent.bootStarts().done().isDone(), "nothing is started while the stand-down is ordered");
        assertFalse(libvirt("web").active());
        lap("boot-3: hv1 stood down");

        // Unfenced: the agent starts mine, still homed here, and never web.
        ((io.virtfleet.controller.fencing.Fences) fleet.controller().fences()).remove(HOST);
        BootStarts.Outcome unfenced = bootOutcome();
        assertEquals(List.of("mine"), unfenced.started(), unfenced.failed().toString());
        assertFalse(libvirt("web").active());
        assertEquals(2, qemuStarts("web"), "web's QEMU started on hv1 by the controller, then at boot-2, never more");
        lap("unfenced: mine started, web not");
    }

    // ---------------------------------------------------------------------------------------------------------

    /** hv1's host boots again, under a new boot identity; returns once libvirtd has made its boot's autostarts. */
    private void boot(String id) throws Exception {
        Files.writeString(bootId, id + "\n");
        node.boot();
        node.pid().ifPresent(processesThatMustEnd::add);
        awaitAgent("libvirtd autostarted canary at " + id, () -> {
            try {
                return libvirt("canary").active();
            } catch (LibvirtException e) {
                return false;
            }
        });
        lap("hv1 booted (" + id + ")");
    }

    private BootStarts.Outcome bootOutcome() throws Exception {
        return agent.bootStarts().done().get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    private static DomainInfo reported(Host host, String vm) {
        return host.getReport().getDomainsList().stream().filter(d -> d.getName().equals(vm)).findFirst()
                .orElseThrow(() -> new AssertionError(vm + " not in hv1's report: " + host.getReport()));
    }

    private void defineByHandWithLibvirtAutostart(String vm) throws LibvirtException {
        Connect conn = new Connect(node.uri(), false);
        try {
            Domain d = conn.domainDefineXML(domainXml(vm));
            try {
                d.setAutostart(true);
            } finally {
                d.free();
            }
        } finally {
            conn.close();
        }
    }

    /** How many times libvirt started the domain's QEMU on hv1 (its log gets a line at each start). */
    private long qemuStarts(String vm) throws IOException {
        try (var lines = Files.lines(node.dir().resolve("log").resolve("qemu").resolve(vm + ".log"))) {
            return lines.filter(l -> l.contains("starting up libvirt version")).count();
        }
    }

    private void startNode() {
        try {
            node = LibvirtdNode.start(tmp.resolve("nodes").resolve(HOST), HOST, LibvirtdNode.Options.defaults());
        } catch (IOException | RuntimeException e) {
            fail("this test needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                    + ") and could not start one: " + e.getMessage(), e);
        }
        node.pid().ifPresent(processesThatMustEnd::add);
        lap("libvirtd up");
    }

    /** hv1's agent, the host's boot identity read from {@link #bootId} when the test sets one (else the kernel's). */
    private void startAgent() throws Exception {
        AgentConfig config = fleet.agentConfig(HOST, tmp.resolve("agents").resolve(HOST), node.uri())
                .withJoinToken(fleet.joinToken(HOST));
        agent = bootId == null ? Agent.create(config)
                : Agent.create(config, binder -> binder.bind(HostBoot.class).toInstance(HostBoot.fromFile(bootId)));
        agent.start();
    }

    /** Saves a VM's record and definition in the controller's repository, as a create or a failover does. */
    private void record(String vm, String home) throws Exception {
        Vm record = Vm.newBuilder().setSpec(VmSpec.newBuilder().setName(vm).setStorage(StorageTier.STORAGE_TIER_SATA)
                        .setReplicated(false))
                .setHomeHost(home).setRunningWanted(true).setPhase(VmPhase.VM_PHASE_READY).build();
        fleet.controller().vmStore().save(record, domainXml(vm), vm + " homed on " + home, "alice");
    }

    private interface AgentCalls {
        void run(AgentGrpc.AgentBlockingStub agent) throws Exception;
    }

    /** Calls hv1's agent with the controller's own certificate, as the controller's steps do. */
    private void asController(AgentCalls calls) throws Exception {
        controllerTransport = Transport.secure("test-as-controller", 1, fleet.controller().pki().credentials());
        String endpoint = fleet.controller().registry().get(HOST).orElseThrow().agentEndpoint();
        ManagedChannel channel = controllerTransport.channel(Endpoint.parse("agent_endpoint", endpoint),
                FleetIdentity.agent(HOST), Runnable::run);
        try {
            calls.run(AgentGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** A small TCG guest without disk or network (SeaBIOS idles), under a UUID of its own. */
    private static String domainXml(String vm) {
        String uuid = UUID.nameUUIDFromBytes(("virtfleet:" + vm).getBytes(StandardCharsets.UTF_8)).toString();
        return """
                <domain type='qemu'>
                  <name>%s</name>
                  <uuid>%s</uuid>
                  <memory unit='MiB'>64</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
                  <on_poweroff>destroy</on_poweroff>
                  <devices><memballoon model='none'/></devices>
                </domain>
                """.formatted(vm, uuid);
    }

    private record Seen(boolean active, boolean persistent, boolean autostart) {}

    private Seen libvirt(String vm) throws LibvirtException {
        Connect conn = new Connect(node.uri(), false);
        try {
            Domain d = conn.domainLookupByName(vm);
            try {
                return new Seen(d.isActive() == 1, d.isPersistent() == 1, d.getAutostart());
            } finally {
                d.free();
            }
        } finally {
            conn.close();
        }
    }

    private long qemuPid(String vm) throws IOException {
        return Long.parseLong(Files.readString(node.dir().resolve("run").resolve("qemu").resolve(vm + ".pid")).strip());
    }

    private static boolean waitGone(long pid) {
        Optional<ProcessHandle> p = ProcessHandle.of(pid);
        if (p.isEmpty()) {
            return true;
        }
        try {
            p.get().onExit().get(30, TimeUnit.SECONDS);
            return true;
        } catch (Exception e) {
            return !p.get().isAlive();
        }
    }

    /** Waits until hv1 matches in the fleet API; fails with the last view and libvirtd's log otherwise. */
    private Host awaitHost(String what, Predicate<Host> condition) throws InterruptedException {
        Host[] last = {null};
        StatusRuntimeException[] lastError = {null};
        try {
            Await.until(what, WAIT, () -> {
                try {
                    last[0] = FleetGrpc.newBlockingStub(operatorChannel).withDeadlineAfter(5, TimeUnit.SECONDS)
                            .getHost(GetHostRequest.newBuilder().setName(HOST).build());
                    lastError[0] = null;
                    return condition.test(last[0]);
                } catch (StatusRuntimeException e) {
                    lastError[0] = e; // NOT_FOUND until the agent registered
                    return false;
                }
            });
        } catch (AssertionError e) {
            fail(e.getMessage() + ".\nLast view of the host: " + last[0]
                    + (lastError[0] == null ? "" : "\nLast error: " + lastError[0]) + "\n" + node.diagnostics());
        }
        return last[0];
    }

    private static void awaitAgent(String what, BooleanSupplier condition) throws InterruptedException {
        Await.until(what, WAIT, condition);
    }

    private void lap(String what) {
        System.out.printf("[%6d ms] %s%n", (System.nanoTime() - t0) / 1_000_000, what);
    }

    @AfterEach
    void tearDown() throws Exception {
        List<Throwable> problems = new ArrayList<>();
        for (AutoCloseable c : new AutoCloseable[] {
            () -> {
                if (operatorChannel != null) {
                    operatorChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                }
            },
            () -> {
                if (operatorTransport != null) {
                    operatorTransport.close();
                }
            },
            () -> {
                if (controllerTransport != null) {
                    controllerTransport.close();
                }
            },
            () -> {
                if (agent != null) {
                    agent.close();
                }
            },
            () -> {
                if (fleet != null) {
                    fleet.close();
                }
            },
            () -> {
                if (node != null) {
                    node.close();
                }
            }}) {
            try {
                c.close();
            } catch (Exception | AssertionError e) {
                problems.add(e);
            }
        }
        // No libvirtd or QEMU may outlive the test, whatever happened above.
        for (long pid : processesThatMustEnd) {
            Optional<ProcessHandle> p = ProcessHandle.of(pid);
            if (p.isPresent() && p.get().isAlive()) {
                problems.add(new AssertionError("process " + pid + " still running after cleanup"));
                p.get().destroyForcibly();
            }
        }
        if (!problems.isEmpty()) {
            AssertionError e = new AssertionError("cleanup failed: " + problems.get(0), problems.get(0));
            problems.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }
}
