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
import io.virtfleet.controller.testkit.RefuseOnCall;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The watch that starts a kernel-booted VM again once its installer's reboot stopped it: a start the host refuses
 * is tried again, the watch does not end on it (the VM would stay off until the next periodic pass).
 */
class InstallEndRestartTest {
    @TempDir
    Path work;

    @Test
    void aStartTheHostRefusesIsTriedAgainUntilTheVmRuns() throws Exception {
        assertTrue(SimulatedNetwork.available(), "LAN VMs need network namespaces: run the tests as root, after deploy/dev/install-deps.sh (iproute2)");
        // Armed once the domain is stopped: only the watch's starts come then.
        RefuseOnCall refuse = new RefuseOnCall(AgentGrpc.getSetDomainRunningMethod());
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work).nodes(EmbeddedFleet.defaultNodes(1)).simulatedNetwork(true)
                .heartbeat(Duration.ofMillis(200)).reconcileInterval(Duration.ofHours(1))
                .apiInterceptors("hv1", List.of(refuse)).build()) {
            fleet.start();
            fleet.awaitRegistered(Duration.ofSeconds(30));
            try (Clients admin = Clients.as(fleet.adminCredentials());
                 Clients asController = Clients.as(fleet.controller().pki().credentials())) {
                await("hv1 reports its underlay", () -> !record(fleet).report().getVxlanAddress().isEmpty());
                VmSpec spec = VmSpec.newBuilder().setName("web").setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(GIB)
                        .setMemoryBytes(GIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("api")
                        .build();
                FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()))
                        .createVm(CreateVmRequest.newBuilder().setSpec(spec).build()).forEachRemaining(p -> { });
                await("web running", () -> state(fleet).equals(Optional.of(DomainState.DOMAIN_STATE_RUNNING)));

                // The installer's reboot, as far as the controller can tell: the domain stops on the host.
                AgentGrpc.newBlockingStub(asController.agent(Endpoint.parse("endpoint", record(fleet).agentEndpoint()), "hv1"))
                        .withDeadlineAfter(30, TimeUnit.SECONDS)
                        .setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName("web").setRunning(false).build());
                await("web reported stopped", () -> state(fleet).filter(s -> s != DomainState.DOMAIN_STATE_RUNNING).isPresent());

                refuse.refuseNext(1);
                fleet.controller().reconciler().restartOnceStopped("web", Duration.ofMillis(100), Duration.ofMinutes(2));
                await("web running again", () -> state(fleet).equals(Optional.of(DomainState.DOMAIN_STATE_RUNNING)));
                assertEquals(1, refuse.refused(), "the first start was refused, a later one made it run");
            }
        }
    }

    private static HostRecord record(EmbeddedFleet fleet) {
        return fleet.controller().registry().get("hv1").orElseThrow();
    }

    private static Optional<DomainState> state(EmbeddedFleet fleet) {
        return record(fleet).report().getDomainsList().stream().filter(d -> d.getName().equals("web"))
                .map(DomainInfo::getState).findFirst();
    }

    /** Waits for a condition the fleet reaches by itself (reports arrive every 200 ms); fails after 3 minutes. */
    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        Await.until(what, Duration.ofMinutes(3), condition);
    }
}
