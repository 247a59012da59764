package io.virtfleet.controller.vm;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A LAN VM's MAC comes from a 24-bit hash of its name: a create whose MAC is already on its LAN, by a VM of another
 * name or by a domain a host reports (managed or not), is refused, naming who has it, and leaves nothing behind.
 */
class LanMacTest {
    /** A MAC that a domain defined by hand on hv1 already has on LAN 10's bridge. */
    private static final String TAKEN_BY_HAND = "intruder";

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void twoHostsOneWithADomainDefinedByHandOnLan10() throws Exception {
        assertTrue(SimulatedNetwork.available(), "LAN VMs need network namespaces: run the tests as root, after deploy/dev/install-deps.sh (iproute2)");
        TestDriverNode hv1 = new TestDriverNode("hv1", 16, 65536)
                .bridgedDomain("legacy", 1, 512, true, DomainIdentity.lanMac(TAKEN_BY_HAND), "vxbr10");
        fleet = EmbeddedFleet.builder(work).nodes(List.of(hv1, new TestDriverNode("hv2", 16, 65536)))
                .simulatedNetwork(true).heartbeat(Duration.ofMillis(200)).reconcileInterval(Duration.ofHours(1)).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        admin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
    }

    @AfterEach
    void stop() {
        if (admin != null) {
            admin.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aVmWhoseMacADomainNotManagedByVirtfleetHasOnTheLanIsRefused() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(spec(TAKEN_BY_HAND, 10), false));
        assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
        assertEquals("spec.name: VM intruder would have MAC " + DomainIdentity.lanMac(TAKEN_BY_HAND) + " on LAN 10, which"
                + " domain legacy on hv1 (not managed by virtfleet) already has there (a LAN VM's MAC comes from its name);"
                + " choose another name", e.getStatus().getDescription());
        assertNothingOf(TAKEN_BY_HAND);
        // The same MAC on another LAN is no conflict.
        assertTrue(planned(spec(TAKEN_BY_HAND, 11)));
    }

    @Test
    void twoNamesWithOneMacCannotShareALan() {
        List<String> pair = namesWithOneMac();
        String first = pair.get(0);
        String second = pair.get(1);
        List<VmProgress> made = create(spec(first, 10), false);
        assertEquals("done", made.get(made.size() - 1).getStep(), made.toString());
        String home = fleet.controller().vms().list().get(0).getHomeHost();

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(spec(second, 10), false));
        assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("which VM " + first + " (on " + home + ") already has there"),
                e.getStatus().getDescription());
        assertNothingOf(second);
        StatusRuntimeException dryRun = assertThrows(StatusRuntimeException.class, () -> create(spec(second, 10), true));
        assertEquals(Status.Code.ALREADY_EXISTS, dryRun.getStatus().getCode(), "a dry run says what the create would");
        assertTrue(planned(spec(second, 12)), "nor is it on another LAN");
    }

    /** The first two names m0, m1, m2... whose LAN MACs are equal (about 5000 hashes: 24 bits). */
    static List<String> namesWithOneMac() {
        Map<String, String> byMac = new HashMap<>();
        for (int i = 0; ; i++) {
            String name = "m" + i;
            String earlier = byMac.putIfAbsent(DomainIdentity.lanMac(name), name);
            if (earlier != null) {
                return List.of(earlier, name);
            }
        }
    }

    private void assertNothingOf(String name) {
        assertTrue(fleet.controller().vms().list().stream().noneMatch(v -> v.getSpec().getName().equals(name)), "not recorded");
        assertEquals(null, fleet.controller().scheduler().claimOf(name), "not claimed");
    }

    private static VmSpec spec(String name, int lan) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(GIB)
                .setMemoryBytes(GIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(lan)).setProfile("base").build();
    }

    private boolean planned(VmSpec spec) {
        return create(spec, true).stream().anyMatch(p -> p.getStep().equals("plan"));
    }

    private List<VmProgress> create(VmSpec spec, boolean dryRun) {
        List<VmProgress> steps = new ArrayList<>();
        operator.createVm(CreateVmRequest.newBuilder().setSpec(spec).setDryRun(dryRun).build()).forEachRemaining(steps::add);
        return steps;
    }
}
