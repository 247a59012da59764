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
import io.virtfleet.proto.v1.HostProgress;
import io.virtfleet.proto.v1.HostReport;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ceph's blocklist entry {@code IP:0/0} covers every client of an address, so an address two hosts report (hosts
 * behind one NAT address, a copied ceph-client-addresses setting) must never be blocklisted to fence one of them: the
 * other would lose its disks too. The check comes before any Ceph call: the Ceph admin here has no conf, so reaching
 * Ceph would fail UNAVAILABLE instead.
 */
class FenceOwnershipTest {
    @TempDir
    Path work;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    @Test
    void anAddressAnotherHostReportsIsNeverBlocklisted() throws Exception {
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        CephClientBook book = CephClientBook.open(work.resolve("ceph-clients"), Runnable::run);
        book.observe(registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv1").addCephClientAddresses("192.0.2.7").addCephClientAddresses("10.0.0.1").build()));
        // hv3 reported before a controller restart only: the book's word counts as much as a live report.
        book.observe(registry.register("agent-3", "10.0.0.3:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv3").addCephClientAddresses("10.0.0.1").build()));
        HostRegistry restarted = new HostRegistry(now::get, Clock.systemUTC());
        restarted.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv1").addCephClientAddresses("192.0.2.7").addCephClientAddresses("10.0.0.1").build());
        now.addAndGet(Duration.ofSeconds(1).toNanos());
        restarted.register("agent-2", "10.0.0.2:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv2").addCephClientAddresses("192.0.2.7").build());

        VmStore store = new VmStore(DefinitionsRepo.open(work.resolve("definitions")));
        Fences fences = Fences.open(work.resolve("fenced-hosts"));
        FenceSettings ceph = new FenceSettings(work.resolve("no-such-ceph.conf"), "virtfleet-fence",
                work.resolve("no-such.keyring"), Duration.ofHours(1), Duration.ofSeconds(10));
        FenceService service = new FenceService(restarted, new Liveness(Duration.ofSeconds(15), Drains.inMemory(),
                fences), fences, ceph, store, Clock.systemUTC(), book);
        now.addAndGet(Duration.ofSeconds(16).toNanos()); // hv1 silent past unreachable-after (so is hv2: no matter)

        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> service.fence("hv1", false, "alice", p -> { }));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode(), refused.getStatus().toString());
        String why = refused.getStatus().getDescription();
        assertTrue(why.contains("hv1 reported no Ceph client addresses that can be blocklisted")
                && why.contains("10.0.0.1") && why.contains("hv3") && why.contains("192.0.2.7") && why.contains("hv2")
                && why.contains("--confirm-down"), why);
        assertTrue(fences.of("hv1").isEmpty(), "nothing recorded");

        List<HostProgress> steps = new ArrayList<>();
        Fence confirmed = service.fence("hv1", true, "alice", steps::add);
        assertEquals(Fence.Kind.CONFIRMED_DOWN, confirmed.kind());
        assertEquals(List.of(), confirmed.addresses(), "neither shared address was blocklisted");
        assertTrue(steps.stream().anyMatch(s -> s.getStep().equals("blocklist-skipped")
                && s.getDetail().startsWith("192.0.2.7 not blocklisted: also reported by hv2")), steps.toString());
    }

    /**
     * A floating address (a VIP) the lost host held moves to a survivor, which reports it now: the lost host is still
     * fenced, on its own addresses, the VIP left off with a step saying why.
     */
    @Test
    void aFloatingAddressOnASurvivorIsLeftOffAndTheRestIsFenced() throws Exception {
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv1").addCephClientAddresses("10.0.0.1").addCephClientAddresses("10.0.0.100").build());
        now.addAndGet(Duration.ofSeconds(16).toNanos());
        registry.register("agent-2", "10.0.0.2:7441", "test", List.of("ssd"), HostReport.newBuilder()
                .setHostName("hv2").addCephClientAddresses("10.0.0.2").addCephClientAddresses("10.0.0.100").build());
        Fences fences = Fences.open(work.resolve("fenced-hosts-vip"));
        FenceService service = new FenceService(registry, new Liveness(Duration.ofSeconds(15), Drains.inMemory(),
                fences), fences, new FenceSettings(work.resolve("no-such-ceph.conf"), "virtfleet-fence",
                work.resolve("no-such.keyring"), Duration.ofHours(1), Duration.ofSeconds(10)),
                new VmStore(DefinitionsRepo.open(work.resolve("definitions-vip"))), Clock.systemUTC(),
                CephClientBook.open(work.resolve("ceph-clients-vip"), Runnable::run));
        List<HostProgress> steps = new ArrayList<>();
        StatusRuntimeException tried = assertThrows(StatusRuntimeException.class,
                () -> service.fence("hv1", false, "controller", steps::add));
        // Ceph is asked (no conf here, so it fails UNAVAILABLE) for hv1's own address only.
        assertEquals(Status.Code.UNAVAILABLE, tried.getStatus().getCode(), tried.getStatus().toString());
        String asked = tried.getStatus().getDescription();
        assertTrue(asked.contains("10.0.0.1:0/0") && !asked.contains("10.0.0.100"), asked);
        assertTrue(steps.stream().anyMatch(s -> s.getStep().equals("blocklist-skipped")
                && s.getDetail().startsWith("10.0.0.100 not blocklisted: also reported by hv2")), steps.toString());
    }
}
