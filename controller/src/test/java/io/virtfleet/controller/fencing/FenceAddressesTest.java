package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fence blocklists every address the host reported since its last unfence, not only its latest report, and skips
 * (saying so) an address Ceph never sees a client come from instead of failing. The Ceph admin here has no conf: each
 * blocklist command fails naming its address, which shows which addresses the fence asked for.
 */
class FenceAddressesTest {
    @TempDir
    Path work;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private HostRegistry registry;
    private CephClientBook book;
    private VmStore store;
    private FenceService service;

    @BeforeEach
    void setUp() throws Exception {
        registry = new HostRegistry(now::get, Clock.systemUTC());
        book = CephClientBook.open(work.resolve("ceph-clients"), Runnable::run);
        store = new VmStore(DefinitionsRepo.open(work.resolve("definitions")));
        Fences fences = Fences.open(work.resolve("fenced-hosts"));
        FenceSettings ceph = new FenceSettings(work.resolve("no-such-ceph.conf"), "virtfleet-fence",
                work.resolve("no-such.keyring"), Duration.ofHours(1), Duration.ofSeconds(10));
        service = new FenceService(registry, new Liveness(Duration.ofSeconds(15), Drains.inMemory(), fences), fences,
                ceph, store, Clock.systemUTC(), book);
    }

    private void report(HostReport.Builder report) {
        book.observe(registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"),
                report.setHostName("hv1").build()));
    }

    /** The addresses a confirmed-down fence of hv1 asked Ceph to blocklist (each refused: no Ceph here). */
    private List<String> triedByAFence() {
        now.addAndGet(Duration.ofSeconds(16).toNanos()); // hv1 silent past unreachable-after
        List<HostProgress> steps = new ArrayList<>();
        Fence fence = service.fence("hv1", true, "alice", steps::add);
        assertEquals(Fence.Kind.CONFIRMED_DOWN, fence.kind());
        return steps.stream().filter(s -> s.getStep().equals("blocklist-failed"))
                .map(s -> s.getDetail().substring(0, s.getDetail().indexOf(' '))).toList();
    }

    @Test
    void theFenceBlocklistsEveryAddressReportedSinceTheLastUnfenceAndOnlyTheLatestAfterIt() throws Exception {
        report(HostReport.newBuilder().addCephClientAddresses("10.0.0.7"));
        report(HostReport.newBuilder().addCephClientAddresses("10.0.0.8")); // a new DHCP lease: a QEMU keeps .7
        assertEquals(List.of("10.0.0.7", "10.0.0.8"), triedByAFence());

        // hv1 comes back, stands down at the head, and is unfenced: from then on only what it reports now counts.
        report(HostReport.newBuilder().addCephClientAddresses("10.0.0.8").setStandingDown(true)
                .setStoodDownCommit(store.repo().head()));
        assertTrue(service.unfence("hv1", "alice").isPresent());
        assertEquals(List.of("10.0.0.8"), triedByAFence());
    }

    @Test
    void anAddressCephNeverSeesIsSkippedSayingWhyAndTheRestIsBlocklisted() {
        report(HostReport.newBuilder().addCephClientAddresses("fe80::1%eth0").addCephClientAddresses("127.0.0.1")
                .addCephClientAddresses("fe80::5").addCephClientAddresses("not-an-ip").addCephClientAddresses("10.0.0.7"));
        now.addAndGet(Duration.ofSeconds(16).toNanos());
        List<HostProgress> steps = new ArrayList<>();
        StatusRuntimeException tried = assertThrows(StatusRuntimeException.class,
                () -> service.fence("hv1", false, "alice", steps::add));
        assertEquals(Status.Code.UNAVAILABLE, tried.getStatus().getCode(), "the fence went on to Ceph: "
                + tried.getStatus());
        assertTrue(tried.getStatus().getDescription().startsWith("cannot fence hv1 in Ceph (blocklisting 10.0.0.7)"),
                tried.getStatus().getDescription());
        List<String> skipped = steps.stream().filter(s -> s.getStep().equals("blocklist-skipped"))
                .map(HostProgress::getDetail).toList();
        assertEquals(List.of(
                "127.0.0.1 not blocklisted: a loopback address, never the address Ceph sees a client come from",
                "fe80::1%eth0 not blocklisted: a scoped address (valid on one link only), never the address Ceph sees a"
                        + " client come from",
                "fe80::5 not blocklisted: a link-local address, never the address Ceph sees a client come from",
                "not-an-ip not blocklisted: not an IP address literal"), skipped);
        assertFalse(service.view().of("hv1").isPresent(), "nothing recorded");
    }
}
