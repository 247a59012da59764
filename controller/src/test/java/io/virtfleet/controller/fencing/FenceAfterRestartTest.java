package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A host that died while the controller was down never registers with the restarted controller: it is fenced with
 * the Ceph client addresses it reported before (kept in the data directory), once the controller has waited as long
 * as it waits for any heartbeat.
 */
class FenceAfterRestartTest {
    @TempDir
    Path work;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Test
    void theAddressesAHostReportedBeforeARestartAreKeptAndUsed() throws Exception {
        // Before the restart: hv9 reports its address; the book keeps it in its file.
        HostRegistry before = new HostRegistry(now::get, Clock.systemUTC());
        CephClientBook kept = CephClientBook.open(work.resolve("ceph-clients"), Runnable::run);
        kept.observe(before.register("agent-9", "10.0.0.9:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv9").addCephClientAddresses("10.0.0.9").build()));
        assertEquals("hv9 10.0.0.9\n", Files.readString(work.resolve("ceph-clients")));

        // After: a new registry that never hears from hv9; web is still homed there.
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        VmStore store = new VmStore(DefinitionsRepo.open(work.resolve("definitions")));
        store.save(Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("web")).setHomeHost("hv9").build(),
                "<domain type='qemu'><name>web</name></domain>", "web: home hv9", "test");
        Fences fences = Fences.open(work.resolve("fenced-hosts"));
        // A Ceph admin whose conf does not exist: the blocklist command fails and says which address it was given.
        FenceSettings ceph = new FenceSettings(work.resolve("no-such-ceph.conf"), "virtfleet-fence",
                work.resolve("no-such.keyring"), Duration.ofHours(1), Duration.ofSeconds(10));
        FenceService service = new FenceService(registry, new Liveness(Duration.ofSeconds(15), Drains.inMemory(), fences),
                fences, ceph, store, Clock.systemUTC(), CephClientBook.open(work.resolve("ceph-clients"), Runnable::run));

        StatusRuntimeException early = assertThrows(StatusRuntimeException.class,
                () -> service.fence("hv9", false, "alice", p -> { }));
        assertEquals(Status.Code.FAILED_PRECONDITION, early.getStatus().getCode());
        assertTrue(early.getStatus().getDescription().contains("hv9 may not have registered yet"),
                early.getStatus().getDescription());
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
                () -> service.fence("hv7", false, "alice", p -> { }));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode(), "neither a home nor a known Ceph client");

        now.addAndGet(Duration.ofSeconds(16).toNanos());
        StatusRuntimeException tried = assertThrows(StatusRuntimeException.class,
                () -> service.fence("hv9", false, "alice", p -> { }));
        assertEquals(Status.Code.UNAVAILABLE, tried.getStatus().getCode(), tried.getStatus().toString());
        assertTrue(tried.getStatus().getDescription().contains("10.0.0.9:0/0"),
                "the blocklist was asked for the address kept from before: " + tried.getStatus().getDescription());

        Fence confirmed = service.fence("hv9", true, "alice", p -> { });
        assertEquals(Fence.Kind.CONFIRMED_DOWN, confirmed.kind(), "the operator's word records it, blocklist or not");
        assertTrue(fences.of("hv9").isPresent());
    }
}
