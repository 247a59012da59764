package io.virtfleet.controller.definitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.StepResult.Outcome;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rendered definitions on a real libvirtd (QEMU driver, TCG: domain type qemu), driven through the agent's
 * gRPC API as the controller drives it: a VM with a raw image made by qemu-img and a NIC on its LAN's bridge
 * is defined, started (its qemu process runs, its tap device is on the bridge), stopped and undefined.
 *
 * <p>The daemon runs in a network namespace the test creates, with the bridges the definitions name
 * ({@code vxbr10} for LAN 10, a public bridge for failover VMs), so nothing touches the machine's own
 * network. Needs root and the packages of deploy/dev/install-deps.sh; fails (does not skip) without them.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class RealLibvirtdDomainTest {
    private static final String HOST = "hv-dom";
    private static final String LAN_BRIDGE = DomainXml.lanBridge(10);
    private static final String PUBLIC_BRIDGE = "vfpub0";

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path tmp;

    /** QEMU capabilities probed by the first node of the run; the next one starts with them (saves ~8 s). */
    @TempDir
    static Path capabilitiesCache;

    private final String netns = "vfdom" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xfffff));
    private boolean netnsCreated;
    private LibvirtdNode node;
    private EmbeddedFleet fleet;
    private Agent agent;
    private Clients asController;
    private AgentGrpc.AgentBlockingStub agentApi;
    private Path images;
    private final List<Long> qemus = new ArrayList<>();
    private final long t0 = System.nanoTime();

    @Test
    void aRenderedLanVmWithARawDiskIsDefinedStartedStoppedAndUndefined() throws Exception {
        start();
        DomainXml renderer = renderer();
        VmSpec spec = VmSpec.newBuilder().setName("vf-git").setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(Bytes.GIB)
                .setMemoryBytes(128 * Bytes.MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .build();
        Path image = images.resolve("vf-git.img");
        Command.of("qemu-img", "create", "-q", "-f", "raw", image.toString(), "1G").timeout(Duration.ofSeconds(30)).runChecked();
        String xml = renderer.render(spec);

        long wall = System.nanoTime();
        StepResult defined = define("vf-git", xml);
        lap("define: " + defined.getDetail() + " (" + defined.getDurationMs() + " ms on the agent, " + ms(wall) + " ms round trip)");
        assertEquals(Outcome.OUTCOME_CHANGED, defined.getOutcome(), defined.getDetail());
        assertTrue(Files.exists(node.dir().resolve("etc").resolve("qemu").resolve("vf-git.xml")), "libvirt keeps the definition");
        StepResult again = define("vf-git", xml);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, again.getOutcome(),
                "libvirt's additions (addresses, controllers, machine version) do not count as a change: " + again.getDetail());
        lap("define again: " + again.getDetail() + " (" + again.getDurationMs() + " ms)");

        wall = System.nanoTime();
        StepResult started = running("vf-git", true, 0);
        lap("start: " + started.getDetail() + " (" + started.getDurationMs() + " ms on the agent, " + ms(wall) + " ms round trip)");
        assertEquals(Outcome.OUTCOME_CHANGED, started.getOutcome());
        ProcessHandle qemu = qemuOf("vf-git");
        String commandLine = qemu.info().commandLine().orElse("");
        assertTrue(commandLine.contains(image.toString()), "qemu opens the raw image: " + commandLine);
        assertTrue(commandLine.contains("\"mac\":\"" + DomainIdentity.lanMac("vf-git") + "\""), "NIC with the name's MAC: " + commandLine);
        assertTrue(commandLine.contains("-accel tcg") || commandLine.contains("accel=tcg"), "TCG: " + commandLine);
        assertEquals(List.of("vnet0"), portsOf(LAN_BRIDGE), "the VM's tap device is on its LAN's bridge");
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, describe("vf-git").orElseThrow().getState());
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, running("vf-git", true, 0).getOutcome());

        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> undefine("vf-git", false));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(qemu.isAlive(), "still running after the refused undefine");

        // No OS in the guest answers the ACPI request: the agent waits the grace, then destroys it.
        wall = System.nanoTime();
        StepResult stopped = running("vf-git", false, 1_500);
        lap("stop: " + stopped.getDetail() + " (" + stopped.getDurationMs() + " ms)");
        assertEquals(Outcome.OUTCOME_CHANGED, stopped.getOutcome());
        assertEquals("vf-git did not shut down within 1.5 s of the ACPI request: destroyed it", stopped.getDetail());
        assertTrue(ms(wall) >= 1_500, "waited the grace first");
        qemu.onExit().get(10, TimeUnit.SECONDS); // qemu is libvirtd's child, not ours: this waits until it is gone
        assertEquals(List.of(), portsOf(LAN_BRIDGE), "the tap device went with qemu");
        assertEquals(DomainState.DOMAIN_STATE_SHUTOFF, describe("vf-git").orElseThrow().getState());

        StepResult undefined = undefine("vf-git", false);
        assertEquals(Outcome.OUTCOME_CHANGED, undefined.getOutcome());
        assertFalse(Files.exists(node.dir().resolve("etc").resolve("qemu").resolve("vf-git.xml")));
        assertTrue(describe("vf-git").isEmpty());
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, undefine("vf-git", true).getOutcome());
        assertTrue(Files.exists(image), "the disk is not the definition's to delete");
    }

    @Test
    void aFailoverVmRunsOnThePublicBridgeWithItsOvhMacAndForceUndefineStopsIt() throws Exception {
        start();
        VmSpec spec = VmSpec.newBuilder().setName("vf-web").setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(Bytes.GIB)
                .setMemoryBytes(128 * Bytes.MIB).setVcpus(1).setProfile("ui").setNetwork(NetworkSpec.newBuilder()
                        .setFailover(FailoverIp.newBuilder().setAddress("203.0.113.7").setMac("02:00:00:AB:CD:EF"))).build();
        Command.of("qemu-img", "create", "-q", "-f", "raw", images.resolve("vf-web.img").toString(), "1G").runChecked();
        define("vf-web", renderer().render(spec));
        running("vf-web", true, 0);
        ProcessHandle qemu = qemuOf("vf-web");
        assertTrue(qemu.info().commandLine().orElse("").contains("\"mac\":\"02:00:00:ab:cd:ef\""), qemu.info().commandLine().orElse(""));
        assertEquals(List.of("vnet0"), portsOf(PUBLIC_BRIDGE));

        StepResult forced = undefine("vf-web", true);
        assertEquals("destroyed and undefined vf-web", forced.getDetail());
        qemu.onExit().get(10, TimeUnit.SECONDS);
        assertTrue(describe("vf-web").isEmpty());

        // libvirtd down: a client can tell "try later" from "your request is wrong".
        node.stopDaemon();
        StatusRuntimeException down = assertThrows(StatusRuntimeException.class, () -> define("vf-web", renderer().render(spec)));
        assertEquals(Status.Code.UNAVAILABLE, down.getStatus().getCode(), down.getStatus().toString());
        assertTrue(down.getStatus().getDescription().startsWith("libvirt at " + node.uri() + " is not reachable: "),
                down.getStatus().getDescription());
    }

    // ---------------------------------------------------------------------------------------------------

    private void start() throws Exception {
        Command.of("ip", "netns", "add", netns).runChecked();
        netnsCreated = true;
        for (String bridge : List.of(LAN_BRIDGE, PUBLIC_BRIDGE)) {
            Command.of("ip", "-n", netns, "link", "add", bridge, "type", "bridge").runChecked();
            Command.of("ip", "-n", netns, "link", "set", bridge, "up").runChecked();
        }
        try {
            LibvirtdNode.Options options = LibvirtdNode.Options.defaults().inNetworkNamespace(netns);
            if (Files.isDirectory(capabilitiesCache.resolve("qemu"))) {
                options = options.seedCacheFrom(capabilitiesCache);
            }
            node = LibvirtdNode.start(tmp.resolve("nodes").resolve(HOST), HOST, options);
        } catch (IOException | RuntimeException e) {
            fail("this test needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                    + ") and could not start one: " + e.getMessage(), e);
        }
        lap("libvirtd up in network namespace " + netns);
        fleet = EmbeddedFleet.builder(tmp.resolve("fleet")).nodes(List.of()).heartbeat(Duration.ofMillis(500))
                .grace(Duration.ofSeconds(5)).build().start();
        AgentConfig config = fleet.agentConfig(HOST, tmp.resolve("agents").resolve(HOST), node.uri())
                .withJoinToken(fleet.joinToken(HOST));
        images = config.imagesDirectory();
        agent = Agent.create(config);
        try {
            agent.start();
        } catch (Enroller.RefusedException e) {
            throw new IllegalStateException("agent could not enroll", e);
        }
        fleet.awaitRegistered(Duration.ofSeconds(60));
        asController = Clients.as(fleet.controller().pki().credentials());
        agentApi = AgentGrpc.newBlockingStub(asController.agent(new Endpoint("127.0.0.1", agent.port()), HOST));
        // The agent's first poll asks libvirt's version, which makes a fresh libvirtd probe QEMU for seconds
        // while holding the agent's connection: wait for it, so the timings below are the operations' own.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!agentApi.describeHost(DescribeHostRequest.getDefaultInstance()).getHypervisor().getType().equals("QEMU")) {
            assertTrue(System.nanoTime() < deadline, "the agent did not connect to libvirtd:\n" + node.diagnostics());
            Thread.sleep(100);
        }
        lap("controller and agent up, libvirt connected");
    }

    private DomainXml renderer() {
        return new DomainXml(DomainSettings.defaults().withDomainType(DomainSettings.QEMU).withImagesDirectory(images)
                .withPublicBridge(PUBLIC_BRIDGE));
    }

    private StepResult define(String name, String xml) {
        return agentApi.withDeadlineAfter(60, TimeUnit.SECONDS)
                .defineDomain(DefineDomainRequest.newBuilder().setVmName(name).setDomainXml(xml).build());
    }

    private StepResult running(String name, boolean run, long timeoutMs) {
        return agentApi.withDeadlineAfter(60, TimeUnit.SECONDS).setDomainRunning(SetDomainRunningRequest.newBuilder()
                .setVmName(name).setRunning(run).setShutdownTimeoutMs(timeoutMs).build());
    }

    private StepResult undefine(String name, boolean force) {
        return agentApi.withDeadlineAfter(60, TimeUnit.SECONDS)
                .undefineDomain(UndefineDomainRequest.newBuilder().setVmName(name).setForce(force).build());
    }

    /** The domain as libvirt has it now: a fresh report, not the last poll's (which a step just done may predate). */
    private Optional<DomainInfo> describe(String name) {
        return agentApi.describeHost(DescribeHostRequest.newBuilder().setFresh(true).build()).getDomainsList().stream()
                .filter(d -> d.getName().equals(name)).findFirst();
    }

    /** The domain's qemu process, from the pid file libvirt writes; it must be alive. */
    private ProcessHandle qemuOf(String name) throws IOException {
        Path pidFile = node.dir().resolve("run").resolve("qemu").resolve(name + ".pid");
        long pid = Long.parseLong(Files.readString(pidFile).strip());
        qemus.add(pid);
        ProcessHandle qemu = ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("no qemu process " + pid));
        assertTrue(qemu.isAlive() && qemu.info().command().orElse("").contains("qemu-system"), qemu.info().toString());
        return qemu;
    }

    /** Interfaces enslaved to a bridge of the test's network namespace. */
    private List<String> portsOf(String bridge) {
        String out = Command.of("ip", "-n", netns, "-o", "link", "show", "master", bridge).runChecked().stdout();
        List<String> ports = new ArrayList<>();
        for (String line : out.split("\n")) {
            String[] fields = line.split(": ", 3);
            if (fields.length >= 2) {
                ports.add(fields[1].split("@")[0]);
            }
        }
        return ports;
    }

    @AfterEach
    void tearDown() {
        List<Throwable> problems = new ArrayList<>();
        run(problems, () -> {
            if (asController != null) {
                asController.close();
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
        run(problems, () -> {
            if (netnsCreated) {
                Command.of("ip", "netns", "del", netns).runChecked();
            }
        });
        for (long pid : qemus) {
            ProcessHandle.of(pid).filter(ProcessHandle::isAlive).ifPresent(p -> {
                problems.add(new AssertionError("qemu " + pid + " still running after cleanup"));
                p.destroyForcibly();
            });
        }
        lap("cleaned up");
        if (!problems.isEmpty()) {
            AssertionError e = new AssertionError("cleanup failed: " + problems.get(0), problems.get(0));
            problems.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
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

    private static long ms(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1_000_000;
    }

    private void lap(String what) {
        System.out.printf("[%6d ms] %s%n", ms(t0), what);
    }
}
