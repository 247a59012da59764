package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ListProfilesRequest;
import io.virtfleet.proto.v1.ListProfilesResponse;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.VmProgress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Profiles through the operator API of a running fleet, over mutual TLS: what ListProfiles shows, a profile added
 * by hand showing up at once, and a create with a profile the controller lacks refused before anything happens.
 */
class ProfilesApiTest {
    @TempDir
    Path work;

    private Path profiles;
    private EmbeddedFleet fleet;
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void fleetWithItsOwnProfiles() throws Exception {
        profiles = work.resolve("profiles");
        profile("base", "# The base.\n");
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).heartbeat(Duration.ofMillis(200)).profiles(profiles)
                .simulatedNetwork(true).build().start(); // hosts that carry LANs, so a LAN VM is placed
        fleet.awaitRegistered(Duration.ofSeconds(30));
        admin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
    }

    @AfterEach
    void stop() throws Exception {
        admin.close();
        fleet.close();
    }

    private void profile(String name, String description) throws Exception {
        Path dir = Files.createDirectories(profiles.resolve(name));
        Files.writeString(dir.resolve("preseed.cfg"), "d-i pkgsel/include string sudo\n");
        Files.writeString(dir.resolve("post-install.sh"), "#!/bin/bash\n" + description);
    }

    private List<VmProgress> create(String profile) {
        List<VmProgress> steps = new ArrayList<>();
        operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", profile)).setDryRun(true).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    @Test
    void listProfilesShowsWhatTheDirectoryHoldsNowAndWhatItIgnores() throws Exception {
        ListProfilesResponse before = operator.listProfiles(ListProfilesRequest.getDefaultInstance());
        assertEquals(List.of("base"), before.getProfilesList().stream().map(p -> p.getName()).toList());
        assertEquals("The base.", before.getProfiles(0).getDescription());
        assertEquals(profiles.toString(), before.getDirectory());

        profile("shop", "# The shop.\n");
        Files.createDirectories(profiles.resolve("Shop_v2"));
        ListProfilesResponse after = operator.listProfiles(ListProfilesRequest.getDefaultInstance());
        assertEquals(List.of("base", "shop"), after.getProfilesList().stream().map(p -> p.getName()).toList());
        assertEquals("\"Shop_v2\"", after.getIgnored(0).getName());
        assertTrue(after.getIgnored(0).getReason().contains("1-63 characters of a-z"), after.getIgnored(0).getReason());
    }

    @Test
    void aCreateWithAProfileTheControllerLacksIsRefusedBeforeAnythingHappens() throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create("shop"));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("spec.profile: \"shop\" is not accepted; expected one of the controller's profiles: base",
                e.getStatus().getDescription());
        assertEquals(0, operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsCount());
        assertEquals(List.of(), fleet.controller().scheduler().claims());
        StatusRuntimeException place = assertThrows(StatusRuntimeException.class, () -> operator.place(
                io.virtfleet.proto.v1.PlaceRequest.newBuilder().setSpec(Installer.lanVm("web", "shop")).build()));
        assertEquals(e.getStatus().getDescription(), place.getStatus().getDescription(), "place --explain says the same");

        profile("shop", "# The shop.\n");
        assertTrue(create("shop").stream().map(VmProgress::getStep).toList().contains("plan"),
                "known now: the create goes as far as its plan");
    }

    @Test
    void withoutBaseNoProfileCanBeUsed() throws Exception {
        profile("shop", "# The shop.\n");
        Files.delete(profiles.resolve("base").resolve("preseed.cfg"));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create("shop"));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("profile shop builds on profile base, which is missing from "),
                e.getStatus().getDescription());
    }
}
