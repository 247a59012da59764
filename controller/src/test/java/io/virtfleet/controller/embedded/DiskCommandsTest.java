package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DeleteDiskRequest;
import io.virtfleet.proto.v1.EnsureDiskRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.StorageTier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The controller asks an agent for raw disks over the fleet's gRPC (mutual TLS): real qemu-img in the agent's
 * images directory, every answer a status the controller can act on.
 */
class DiskCommandsTest {
    private static final long GIB = Bytes.GIB;

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients asController;
    private AgentGrpc.AgentBlockingStub agent;
    private Path images;

    @BeforeEach
    void startFleet() throws Exception {
        fleet = EmbeddedFleet.builder(work).nodes(List.of(new TestDriverNode("hv1", 4, 8192)))
                .heartbeat(Duration.ofMillis(200)).build().start();
        asController = Clients.as(fleet.controller().pki().credentials());
        agent = AgentGrpc.newBlockingStub(asController.agent(new Endpoint("127.0.0.1", fleet.agent("hv1").port()), "hv1"));
        images = work.resolve("agents").resolve("hv1").resolve("images").toRealPath();
    }

    @AfterEach
    void stopFleet() {
        asController.close();
        fleet.close();
    }

    @Test
    void aRawDiskIsCreatedThenAdoptedAndAnotherSizeIsRefused() {
        StepResult created = ensure("git", StorageTier.STORAGE_TIER_RAW, 20 * GIB);
        Path image = images.resolve("git.img");
        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, created.getOutcome());
        assertEquals("created " + image + " 20 GiB raw (sparse)", created.getDetail());
        assertTrue(created.getDurationMs() >= 0 && created.getDurationMs() < 60_000, "duration " + created.getDurationMs());
        JsonObject info = JsonParser.parseString(Command.of("qemu-img", "info", "--output=json", image.toString())
                .runChecked().stdout()).getAsJsonObject();
        assertEquals("raw", info.get("format").getAsString());
        assertEquals(20 * GIB, info.get("virtual-size").getAsLong());
        System.out.printf("EnsureDisk raw 20 GiB over gRPC: agent took %d ms%n", created.getDurationMs());

        StepResult again = ensure("git", StorageTier.STORAGE_TIER_RAW, 20 * GIB);
        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, again.getOutcome());
        assertEquals("adopted " + image + " (20 GiB, raw)", again.getDetail());

        StatusRuntimeException bigger = assertThrows(StatusRuntimeException.class,
                () -> ensure("git", StorageTier.STORAGE_TIER_RAW, 21 * GIB));
        assertEquals(Status.Code.FAILED_PRECONDITION, bigger.getStatus().getCode());
        assertEquals(image + " already exists with 20 GiB (21474836480 bytes), not the requested 21 GiB (22548578304 bytes); "
                + "virtfleet never resizes or overwrites a disk: delete it first, or ask for its size",
                bigger.getStatus().getDescription());
    }

    @Test
    void deleteRemovesTheDiskAndAnAbsentOneIsAlreadyDone() {
        ensure("git", StorageTier.STORAGE_TIER_RAW, GIB);

        StepResult deleted = delete("git", StorageTier.STORAGE_TIER_RAW);
        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, deleted.getOutcome());
        assertFalse(Files.exists(images.resolve("git.img")));

        StepResult absent = delete("git", StorageTier.STORAGE_TIER_RAW);
        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, absent.getOutcome());
        assertEquals(images.resolve("git.img") + " was already absent", absent.getDetail());
    }

    @Test
    void badRequestsAreInvalidArgumentsNamingTheFieldAndNothingRuns() throws Exception {
        for (String name : List.of("../x", "a b", "$(reboot)", "")) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> ensure(name, StorageTier.STORAGE_TIER_RAW, GIB));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().startsWith("vm_name: "), e.getStatus().getDescription());
            assertTrue(e.getStatus().getDescription().contains("is not accepted; expected 1-63 characters of a-z"),
                    e.getStatus().getDescription());
            assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                    () -> delete(name, StorageTier.STORAGE_TIER_RAW)).getStatus().getCode());
        }
        StatusRuntimeException unset = assertThrows(StatusRuntimeException.class,
                () -> ensure("git", StorageTier.STORAGE_TIER_UNSPECIFIED, GIB));
        assertEquals("storage: \"unset\" is not accepted; expected STORAGE_TIER_SSD, STORAGE_TIER_SATA or STORAGE_TIER_RAW",
                unset.getStatus().getDescription());
        StatusRuntimeException tiny = assertThrows(StatusRuntimeException.class,
                () -> ensure("git", StorageTier.STORAGE_TIER_RAW, GIB - 1));
        assertTrue(tiny.getStatus().getDescription().startsWith("size_bytes: \"1073741823\" is not accepted"),
                tiny.getStatus().getDescription());
        try (Stream<Path> files = Files.list(images)) {
            // No disk: only the agent's prepared installer initrd, which lives there for QEMU to read.
            assertEquals(List.of(), files.filter(p -> !p.getFileName().toString().equals(".virtfleet-installer")).toList());
        }
    }

    @Test
    void aCephTierOnAHostWithoutCephIsAFailedPreconditionNamingTheSetting() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> ensure("git", StorageTier.STORAGE_TIER_SSD, GIB));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().matches("ceph-conf \\S+/ceph\\.conf does not exist or cannot be read, so "
                + "this host cannot reach Ceph for rbd:libvirt-ssd/git: install the file, or set ceph-conf .*"),
                e.getStatus().getDescription());
    }

    private StepResult ensure(String vm, StorageTier tier, long bytes) {
        return agent.withDeadlineAfter(60, TimeUnit.SECONDS).ensureDisk(EnsureDiskRequest.newBuilder()
                .setVmName(vm).setStorage(tier).setSizeBytes(bytes).build());
    }

    private StepResult delete(String vm, StorageTier tier) {
        return agent.withDeadlineAfter(60, TimeUnit.SECONDS).deleteDisk(DeleteDiskRequest.newBuilder()
                .setVmName(vm).setStorage(tier).build());
    }
}
