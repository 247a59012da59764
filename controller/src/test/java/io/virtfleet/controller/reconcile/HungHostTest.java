package io.virtfleet.controller.reconcile;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.HangOnCall;
import io.virtfleet.controller.testkit.RefuseOnCall;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reconciliation pass over two hosts, one of which hangs: its agent takes every step's request and never
 * answers until the test lets it. The other host's VM is repaired meanwhile, not after the hung calls' deadlines.
 */
class HungHostTest {
    @TempDir
    Path work;

    private final List<AutoCloseable> closers = new ArrayList<>();
    private final HangOnCall hang = new HangOnCall(List.of(AgentGrpc.getEnsureNetworkMethod(), AgentGrpc.getEnsureDiskMethod(),
            AgentGrpc.getDefineDomainMethod(), AgentGrpc.getSetDomainRunningMethod()));
    private final RefuseOnCall refuseDisks = new RefuseOnCall(AgentGrpc.getEnsureDiskMethod());
    private EmbeddedFleet fleet;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void twoHostsOneOfThemAbleToHang() throws Exception {
        assertTrue(SimulatedNetwork.available(), "LAN VMs need network namespaces: run the tests as root, after deploy/dev/install-deps.sh (iproute2)");
        fleet = EmbeddedFleet.builder(work).nodes(EmbeddedFleet.defaultNodes(2)).simulatedNetwork(true)
                .heartbeat(Duration.ofMillis(200)).reconcileInterval(Duration.ofHours(1))
                .apiInterceptors("hv1", List.of(hang, refuseDisks)).build();
        closers.add(fleet);
        fleet.start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        await("both hosts report their underlay", () -> fleet.controller().registry().all().stream()
                .filter(h -> !h.report().getVxlanAddress().isEmpty()).count() == 2);
    }

    @AfterEach
    void stop() throws Exception {
        hang.release();
        for (AutoCloseable c : closers) {
            c.close();
        }
    }

    @Test
    void aVmOnAHealthyHostIsRepairedWhileAnotherHostHangs() throws Exception {
        create("slow", "hv1");
        create("quick", "hv2");
        // Both domains vanish behind the controller's back (as by virsh undefine): both VMs need repair.
        Clients asController = Clients.as(fleet.controller().pki().credentials());
        closers.add(0, asController);
        for (String[] vm : new String[][] {{"slow", "hv1"}, {"quick", "hv2"}}) {
            AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("endpoint", record(vm[1]).agentEndpoint()), vm[1]))
                    .withDeadlineAfter(30, TimeUnit.SECONDS)
                    .undefineDomain(UndefineDomainRequest.newBuilder().setVmName(vm[0]).setForce(true).build());
            await(vm[0] + " gone from " + vm[1] + "'s report", () -> domain(vm[1], vm[0]).isEmpty());
        }

        hang.arm();
        java.util.concurrent.CompletableFuture<Void> pass = fleet.controller().reconciler().reconcileAll();
        await("the pass is stuck on hv1", () -> hang.hanging() > 0);
        await("quick running again, or the controller giving up on hv1", () -> running("hv2", "quick")
                || !hang.abandoned().isEmpty());
        assertEquals(List.of(), hang.abandoned(), "hv2's VM waited for hv1's calls to time out");
        assertTrue(hang.hanging() > 0, "hv1 still hangs");

        hang.release();
        await("slow running again once hv1 answers", () -> running("hv1", "slow"));
        pass.get(3, TimeUnit.MINUTES);
    }

    @Test
    void aHostThatDoesNotAnswerGetsNoMoreCallsThatPass() throws Exception {
        create("first", "hv1");
        create("second", "hv1");
        vanish("first", "hv1");
        vanish("second", "hv1");

        refuseDisks.refuseNext(2); // as a host whose agent is unreachable: every call fails, UNAVAILABLE
        fleet.controller().reconciler().reconcileAll().get(3, TimeUnit.MINUTES);
        assertEquals(1, refuseDisks.refused(), "after the first VM's step failed, the second was not tried");

        refuseDisks.refuseNext(0);
        fleet.controller().reconciler().reconcileAll().get(3, TimeUnit.MINUTES);
        await("both repaired by the next pass", () -> running("hv1", "first") && running("hv1", "second"));
    }

    /** The VM's domain vanishes behind the controller's back (as by virsh undefine). */
    private void vanish(String vm, String host) throws Exception {
        try (Clients asController = Clients.as(fleet.controller().pki().credentials())) {
            AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("endpoint", record(host).agentEndpoint()), host))
                    .withDeadlineAfter(30, TimeUnit.SECONDS)
                    .undefineDomain(UndefineDomainRequest.newBuilder().setVmName(vm).setForce(true).build());
        }
        await(vm + " gone from " + host + "'s report", () -> domain(host, vm).isEmpty());
    }

    private void create(String name, String host) throws InterruptedException {
        VmSpec spec = VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(GIB)
                .setMemoryBytes(GIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("api")
                .setPinnedHost(host).build();
        operator.createVm(CreateVmRequest.newBuilder().setSpec(spec).build()).forEachRemaining(p -> { });
        await(name + " running on " + host, () -> running(host, name));
    }

    private HostRecord record(String host) {
        return fleet.controller().registry().get(host).orElseThrow();
    }

    private Optional<DomainInfo> domain(String host, String vm) {
        return record(host).report().getDomainsList().stream().filter(d -> d.getName().equals(vm)).findFirst();
    }

    private boolean running(String host, String vm) {
        return domain(host, vm).map(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).orElse(false);
    }

    /** Waits for a condition the fleet reaches by itself (reports arrive every 200 ms); fails after 3 minutes. */
    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        Await.until(what, Duration.ofMinutes(3), condition);
    }
}
