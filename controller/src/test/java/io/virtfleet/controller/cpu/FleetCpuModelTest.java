package io.virtfleet.controller.cpu;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.hypervisor.HostCpus;
import io.virtfleet.controller.cli.VirtfleetCli;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.controller.testkit.NamespacedAgent;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.controller.testkit.OlderCpu;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetCpuModel;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetCpuModelRequest;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostCpu;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostVerdict;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;

/**
 * The fleet CPU model on real libvirtds (QEMU/TCG, each in its own mount and network namespace, with an agent): hv1
 * is the newer host, hv2 an older one whose QEMU offers guests no {@value #MISSING} ({@link OlderCpu}). The first VM
 * create computes the model from hv1's CPU, and that VM runs under it; hv2 joins later, judges the model itself with
 * its libvirt, and is flagged and refused by placement with libvirt's reason, the model staying as it is; an operator
 * lowers it with {@code cpu-model --recompute}, after which a VM runs on hv2 too. Needs root and the packages of
 * deploy/dev/install-deps.sh; fails (does not skip) without them.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FleetCpuModelTest {
    /** The feature hv2's CPU lacks: one QEMU's TCG offers on any x86 host, and that the newer host's model requires. */
    private static final String MISSING = "vaes";
    private static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final long t0 = System.nanoTime();
    private EmbeddedFleet fleet;
    private FleetGrpc.FleetBlockingStub operator;

    @Test
    void aJoiningOlderHostIsFlaggedAndRefusedWithoutLoweringTheModelUntilAnOperatorRecomputesIt() throws Exception {
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.246.0.1/24", ns2, "10.246.0.2/24", "ul0");
        LibvirtdNode hv1 = node("hv1", LibvirtdNode.Options.defaults().inNetworkNamespace(ns1));
        probe(hv1); // QEMU's capabilities, which the older node starts from
        Path olderCache = OlderCpu.cacheWithout(exported(hv1), work.resolve("older-cache"), Set.of(MISSING));
        LibvirtdNode hv2 = node("hv2", LibvirtdNode.Options.defaults().inNetworkNamespace(ns2).seedCacheFrom(olderCache));
        lap("libvirtd of hv1 and of the older hv2 up");

        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of()).heartbeat(Duration.ofMillis(200))
                .reconcileInterval(Duration.ofHours(1)).build().start();
        closers.add(0, fleet);
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        agent("hv1", hv1, ns1);
        HostCpu newer = awaitCpu("hv1", cpu -> !cpu.getHostModelXml().isEmpty());
        assertTrue(newer.getHostModelXml().contains("name=\"" + MISSING + "\" policy=\"require\""),
                "hv1 is the newer CPU: " + newer.getHostModelXml());
        assertTrue(cli("host", "show", "hv1").contains("Fleet CPU:     no fleet CPU model yet"), cli("host", "show", "hv1"));

        // The first create needs the model: libvirt's baseline of the ready hosts' CPUs, hv1's alone.
        create(vm("first", ""));
        FleetCpuModel model = operator.getCpuModel(GetCpuModelRequest.getDefaultInstance());
        lap("first VM created; fleet CPU model " + model.getSummary());
        assertTrue(model.getCpuXml().contains("name=\"" + MISSING + "\""), model.getCpuXml());
        assertEquals("admin", model.getComputedBy());
        assertTrue(model.getMessage().startsWith("fleet CPU model " + model.getSummary() + ": libvirt's baseline of the"
                + " CPUs of hv1 (first needed by a VM create)"), model.getMessage());
        assertEquals(model.getCpuXml(), Files.readString(repo().resolve(HostCpus.MODEL_FILE)), "kept in the repository");
        String modelName = CpuModel.parse("model", model.getCpuXml()).model();
        assertTrue(qemuCommandLine(hv1, "first").contains("-cpu " + modelName + ","),
                "the VM runs on the fleet CPU model under TCG: " + qemuCommandLine(hv1, "first"));
        assertTrue(Files.readString(repo().resolve("etc/libvirt/qemu/first.xml")).contains("<cpu check=\"partial\""
                + " match=\"exact\" mode=\"custom\">"), "its definition names the model");

        // The older host joins: its own libvirt judges the model (after its first sync), it is flagged, nothing lowered.
        agent("hv2", hv2, ns2);
        HostCpu older = awaitCpu("hv2", cpu -> cpu.getFleetModelSha256().equals(model.getSha256()));
        assertFalse(older.getRunsFleetModel(), older.toString());
        assertTrue(older.getFleetModelRefusal().contains(MISSING), "libvirt's reason names the missing feature: " + older);
        assertFalse(older.getHostModelXml().contains("name=\"" + MISSING + "\""), older.getHostModelXml());
        lap("hv2 joined: " + older.getFleetModelRefusal());
        FleetCpuModel after = operator.getCpuModel(GetCpuModelRequest.getDefaultInstance());
        assertEquals(model.getSha256(), after.getSha256(), "a joining host never lowers the model");
        assertEquals(model.getCommit(), after.getCommit());
        String problem = after.getHostsList().stream().filter(h -> h.getHost().equals("hv2")).findFirst().orElseThrow()
                .getProblem();
        assertTrue(problem.startsWith("cannot run the fleet CPU model " + modelName + " (" + model.getSha256().substring(0, 12)
                + "): ") && problem.contains(MISSING) && problem.endsWith("virtfleet cpu-model --recompute lowers the model"
                + " to what the ready hosts run"), problem);

        Host shown = operator.getHost(GetHostRequest.newBuilder().setName("hv2").build());
        assertEquals(HostState.HOST_STATE_READY, shown.getState(), "flagged, not taken out of the fleet");
        assertEquals(problem, shown.getFleetCpuProblem());
        String hostShow = cli("host", "show", "hv2");
        assertTrue(hostShow.contains("Fleet CPU:     REFUSED by placement: " + problem), hostShow);
        assertTrue(hostShow.contains("Guest CPU:     " + modelName), hostShow);
        HostVerdict verdict = operator.place(PlaceRequest.newBuilder().setSpec(vm("second", "")).build()).getVerdictsList()
                .stream().filter(v -> v.getHost().equals("hv2")).findFirst().orElseThrow();
        assertEquals("cpu-model", verdict.getFailedFilter());
        assertEquals(problem, verdict.getReason());
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> create(vm("second", "hv2")));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains(MISSING), refused.getStatus().getDescription());

        // The operator lowers the model deliberately: the baseline of both CPUs, which the older host runs.
        String recomputed = cli("cpu-model", "--recompute");
        lap("recomputed:\n" + recomputed);
        FleetCpuModel lowered = operator.getCpuModel(GetCpuModelRequest.getDefaultInstance());
        assertFalse(lowered.getSha256().equals(model.getSha256()), recomputed);
        assertFalse(lowered.getCpuXml().contains("name=\"" + MISSING + "\""), lowered.getCpuXml());
        assertTrue(lowered.getMessage().contains("recomputed as libvirt's baseline of the CPUs of hv1, hv2"), lowered.getMessage());
        assertTrue(recomputed.contains("VMs defined before keep the model their definition names"), recomputed);
        assertTrue(recomputed.matches("(?s).*\\nhv2 +yes .*"), recomputed);
        awaitCpu("hv2", cpu -> cpu.getFleetModelSha256().equals(lowered.getSha256()) && cpu.getRunsFleetModel());
        create(vm("second", "hv2"));
        assertTrue(qemuCommandLine(hv2, "second").contains("-cpu " + modelName + ","), qemuCommandLine(hv2, "second"));
        assertFalse(qemuCommandLine(hv2, "second").contains(MISSING), "the lowered model: " + qemuCommandLine(hv2, "second"));
        assertTrue(Files.readString(repo().resolve("etc/libvirt/qemu/first.xml")).contains("name=\"" + MISSING + "\""),
                "the first VM keeps the model its definition names");
        lap("second VM runs on hv2 under the lowered model");
    }

    // ---------------------------------------------------------------------------------------------------

    private LibvirtdNode node(String name, LibvirtdNode.Options options) throws IOException {
        try {
            LibvirtdNode node = LibvirtdNode.start(work.resolve("nodes").resolve(name), name, options);
            closers.add(node);
            return node;
        } catch (IOException | RuntimeException e) {
            fail("this test needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                    + ") and could not start one: " + e.getMessage(), e);
            throw e;
        }
    }

    private static void probe(LibvirtdNode node) throws Exception {
        Connect conn = new Connect(node.uri(), false);
        try {
            conn.getVersion();
        } finally {
            conn.close();
        }
    }

    private Path exported(LibvirtdNode node) throws IOException {
        Path to = work.resolve("hv1-cache");
        node.exportCache(to);
        return to;
    }

    private void agent(String host, LibvirtdNode node, String namespace) throws Exception {
        Agent agent = NamespacedAgent.start(fleet, host, work.resolve("agents").resolve(host), node.uri(), namespace, "ul0",
                null);
        closers.add(0, agent);
        Await.until(host + " registered and ready", WAIT, () -> operator.listHosts(ListHostsRequest.getDefaultInstance())
                .getHostsList().stream().anyMatch(h -> h.getName().equals(host) && h.getState() == HostState.HOST_STATE_READY));
    }

    private HostCpu awaitCpu(String host, java.util.function.Predicate<HostCpu> wanted) throws InterruptedException {
        HostCpu[] last = {HostCpu.getDefaultInstance()};
        try {
            Await.until(host + " reporting its CPU as wanted", WAIT, () -> wanted.test(last[0] = operator
                    .getHost(GetHostRequest.newBuilder().setName(host).build()).getReport().getCpu()));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; last reported: " + last[0], e);
        }
        return last[0];
    }

    private static VmSpec vm(String name, String pinnedTo) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(GIB)
                .setMemoryBytes(128 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setPinnedHost(pinnedTo).build();
    }

    private void create(VmSpec spec) {
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(p -> lap(spec.getName() + ": " + p.getStep() + " " + p.getDetail()));
    }

    /** The command line of the VM's QEMU, from the pid file libvirt writes. */
    private static String qemuCommandLine(LibvirtdNode node, String vm) throws IOException {
        long pid = Long.parseLong(Files.readString(node.dir().resolve("run").resolve("qemu").resolve(vm + ".pid")).strip());
        return ProcessHandle.of(pid).flatMap(p -> p.info().commandLine()).orElseThrow(() -> new AssertionError(
                "no QEMU process " + pid + " for " + vm));
    }

    private Path repo() {
        return work.resolve("fleet").resolve("controller").resolve("definitions");
    }

    private String cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> all = new ArrayList<>(List.of("--controller", fleet.controllerEndpoint().toString(), "--credentials",
                fleet.adminCredentials().toString()));
        all.addAll(List.of(args));
        int code = VirtfleetCli.run(new PrintWriter(out), new PrintWriter(err), all.toArray(String[]::new));
        assertEquals(0, code, String.join(" ", args) + ": " + out + err);
        return out.toString();
    }

    private void lap(String what) {
        System.out.printf("[%6d ms] %s%n", (System.nanoTime() - t0) / 1_000_000, what);
    }

    @AfterEach
    void stop() throws Exception {
        Exception first = null;
        for (AutoCloseable c : closers) {
            try {
                c.close();
            } catch (Exception e) {
                first = first == null ? e : first;
            }
        }
        namespaces.close();
        if (first != null) {
            throw first;
        }
    }
}
