package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.JsonFormat;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.CliRun;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code virtfleet host fence} and {@code host unfence} as an operator runs them, against an embedded fleet (libvirt's
 * test driver, no Ceph): each refusal, the operator's --confirm-down, and what a fenced host looks like. Blocklisting
 * itself is proven against a real Ceph in {@code FenceInCephTest}.
 */
class FenceLeversTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);

    @TempDir
    Path work;

    private EmbeddedFleet fleet;

    @AfterEach
    void stopFleet() {
        if (fleet != null) {
            fleet.close();
        }
    }

    /** hv1 runs a domain "web" by hand; hv2 and hv3 nothing. */
    private void start(FenceSettings fencing) throws Exception {
        List<TestDriverNode> nodes = List.of(new TestDriverNode("hv1", 8, 16384).domain("web", 1, 256, true),
                new TestDriverNode("hv2", 8, 16384), new TestDriverNode("hv3", 8, 16384));
        fleet = EmbeddedFleet.builder(work).heartbeat(HEARTBEAT).grace(Duration.ofSeconds(1)).nodes(nodes)
                .fencing(fencing).hostLoss(new HostLoss.Settings(Duration.ofSeconds(2), HostLoss.Mode.MANUAL)).build()
                .start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
    }

    private CliRun cli(String... args) {
        return CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), args);
    }

    private HostState state(String host) {
        CliRun show = cli("-o", "json", "host", "show", host);
        assertEquals(0, show.code(), show.err());
        Host.Builder h = Host.newBuilder();
        try {
            JsonFormat.parser().merge(show.out(), h);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(show.out(), e);
        }
        return h.getState();
    }

    private void lose(String host) throws Exception {
        fleet.stopAgent(host);
        Await.until(host + " unreachable", Duration.ofSeconds(20), () -> state(host) == HostState.HOST_STATE_UNREACHABLE);
    }

    @Test
    void aHostThatHeartbeatsIsNotFencedEvenOnTheOperatorsWord() throws Exception {
        start(FenceSettings.none());
        for (String[] args : List.of(new String[] {"host", "fence", "hv2"}, new String[] {"host", "fence", "hv2", "--confirm-down"})) {
            CliRun run = cli(args);
            assertEquals(1, run.code(), run.out() + run.err());
            assertTrue(run.err().contains("FAILED_PRECONDITION") && run.err().contains("hv2 heartbeats")
                    && run.err().contains("cuts its VMs off their disks"), run.err());
        }
        assertEquals(HostState.HOST_STATE_READY, state("hv2"));
        assertEquals(4, cli("host", "fence", "hv9").code(), "an unknown host");
    }

    @Test
    void withoutCephAdminOnlyTheOperatorsWordFencesAndItIsRecordedOnce() throws Exception {
        start(FenceSettings.none());
        lose("hv1");
        CliRun refused = cli("host", "fence", "hv1");
        assertEquals(1, refused.code(), refused.out() + refused.err());
        assertTrue(refused.err().contains("no Ceph admin") && refused.err().contains("ceph-admin-conf")
                && refused.err().contains("--confirm-down"), refused.err());
        assertEquals(HostState.HOST_STATE_UNREACHABLE, state("hv1"), "nothing recorded");

        CliRun confirmed = cli("host", "fence", "hv1", "--confirm-down");
        assertEquals(0, confirmed.code(), confirmed.err());
        assertTrue(confirmed.out().contains("hv1 blocklist-failed: not blocklisted: the controller has no Ceph admin"),
                confirmed.out());
        assertTrue(confirmed.out().contains("hv1 fenced: confirmed down by admin"), confirmed.out());
        assertEquals(HostState.HOST_STATE_FENCED, state("hv1"));
        Fence recorded = fleet.controller().fencing().view().of("hv1").orElseThrow();
        assertEquals(Fence.Kind.CONFIRMED_DOWN, recorded.kind());
        assertEquals("admin", recorded.by());

        CliRun again = cli("-o", "json", "host", "fence", "hv1");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("already confirmed down"), again.out());
        assertEquals(recorded, fleet.controller().fencing().view().of("hv1").orElseThrow(), "unchanged");

        CliRun show = cli("host", "show", "hv1");
        assertTrue(show.out().contains("State:         fenced (lost: confirmed down by admin at ")
                && show.out().contains("virtfleet host unfence hv1"), show.out());
        assertTrue(show.out().contains("Fence:         confirmed down by admin at ")
                && show.out().contains("nothing on Ceph's blocklist"), show.out());
        CliRun hosts = cli("hosts");
        assertTrue(hosts.out().lines().anyMatch(l -> l.startsWith("hv1 ") && l.contains(" fenced ")), hosts.out());
        CliRun json = cli("-o", "json", "host", "show", "hv1");
        assertTrue(json.out().contains("\"kind\": \"FENCE_KIND_CONFIRMED_DOWN\"") && json.out().contains("\"by\": \"admin\""),
                json.out());
    }

    @Test
    void placementNeverChoosesAFencedHostEvenHeartbeatingAgain() throws Exception {
        start(FenceSettings.none());
        lose("hv3");
        assertEquals(0, cli("host", "fence", "hv3", "--confirm-down").code());
        fleet.startAgent("hv3");
        Await.until("hv3 heartbeating again", Duration.ofSeconds(20), () -> fleet.controller().registry().get("hv3")
                .map(h -> !fleet.controller().liveness().silent(h, fleet.controller().registry().nanoTime())).orElse(false));
        assertEquals(HostState.HOST_STATE_FENCED, state("hv3"), "fenced first, whatever the heartbeats");
        CliRun place = cli("place", "--storage", "raw", "--size", "1G", "--lan", "10", "--memory", "256M", "--vcpus", "1", "--explain");
        assertTrue(place.out().lines().anyMatch(l -> l.contains("hv3") && l.contains("fenced")), place.out() + place.err() + "END");
    }

    @Test
    void withCephAdminAHostThatReportedNoAddressesNeedsTheOperatorsWord() throws Exception {
        start(new FenceSettings(work.resolve("ceph-admin.conf").toAbsolutePath(), "virtfleet-fence", null,
                FenceSettings.DEFAULT_EXPIRY, Duration.ofSeconds(5)));
        lose("hv1");
        CliRun refused = cli("host", "fence", "hv1");
        assertEquals(1, refused.code(), refused.out() + refused.err());
        assertTrue(refused.err().contains("hv1 reported no Ceph client addresses")
                && refused.err().contains("`virtfleet host fence hv1 --confirm-down` is the way"), refused.err());
        assertEquals(HostState.HOST_STATE_UNREACHABLE, state("hv1"), "nothing recorded");
    }

    @Test
    void unfenceWaitsUntilTheHostReportsAndRunsNoVmWhoseHomeMoved() throws Exception {
        start(FenceSettings.none());
        lose("hv1");
        assertEquals(0, cli("host", "fence", "hv1", "--confirm-down").code());
        // web's home is now hv2 (as failover would record it), while hv1 still runs its old domain.
        fleet.controller().vmStore().save(Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("web")).setHomeHost("hv2")
                .build(), "<domain type='qemu'><name>web</name></domain>", "web: home hv2", "test");

        CliRun silent = cli("host", "unfence", "hv1");
        assertEquals(1, silent.code(), silent.out() + silent.err());
        assertTrue(silent.err().contains("hv1 is unreachable") && silent.err().contains("nothing proves what it runs"),
                silent.err());

        fleet.startAgent("hv1");
        awaitStoodDownAtHead();
        CliRun stillRuns = cli("host", "unfence", "hv1");
        assertEquals(1, stillRuns.code(), stillRuns.out() + stillRuns.err());
        assertTrue(stillRuns.err().contains("hv1 still runs web (home now hv2)"), stillRuns.err());
        assertEquals(HostState.HOST_STATE_FENCED, state("hv1"));

        // Once web's home is hv1 again (nothing of another host runs there), the fence is lifted.
        fleet.controller().vmStore().save(Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("web")).setHomeHost("hv1")
                .build(), "<domain type='qemu'><name>web</name></domain>", "web: home hv1", "test");
        awaitStoodDownAtHead(); // unfence trusts only a stand-down against the commit that made hv1 web's home again
        CliRun lifted = cli("host", "unfence", "hv1");
        assertEquals(0, lifted.code(), lifted.out() + lifted.err());
        assertTrue(lifted.out().startsWith("hv1 is "), lifted.out());
        assertFalse(fleet.controller().fencing().view().of("hv1").isPresent());
        Await.until("hv1 ready once its agent heard the fence is lifted", Duration.ofSeconds(20),
                () -> state("hv1") == HostState.HOST_STATE_READY);
        assertEquals(0, cli("host", "unfence", "hv1").code(), "a host not fenced is answered as it is");
    }

    @Test
    void hostShowSaysWhenACephFenceLapsedOrIsAboutToWithoutRenewal() throws Exception {
        start(FenceSettings.none());
        lose("hv2");
        java.time.Instant now = java.time.Instant.now();
        Fences fences = (Fences) fleet.controller().fences();
        fences.record(new Fence("hv2", Fence.Kind.CEPH, List.of("192.0.2.2"), now.minus(Duration.ofHours(2)),
                now.minus(Duration.ofMinutes(1)), "alice"));
        String lapsed = cli("host", "show", "hv2").out();
        assertTrue(lapsed.contains("its Ceph fence lapsed at") && lapsed.contains("may write to its VMs' disks again"),
                lapsed);
        // Fencing it again shows the verdict as it is, and its recovery is refused: fenced, but something is left.
        CliRun again = cli("host", "fence", "hv2", "--confirm-down");
        assertEquals(8, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("recovery-refused") && again.out().contains("lapsed"), again.out());
        fences.record(new Fence("hv2", Fence.Kind.CEPH, List.of("192.0.2.2"), now.minus(Duration.ofHours(7)),
                now.plus(Duration.ofHours(1)), "alice"));
        assertTrue(cli("host", "show", "hv2").out().contains("and was not renewed yet"));
        fences.record(new Fence("hv2", Fence.Kind.CEPH, List.of("192.0.2.2"), now, now.plus(Duration.ofHours(8)),
                "alice"));
        String fresh = cli("host", "show", "hv2").out();
        assertFalse(fresh.contains("lapsed") || fresh.contains("not renewed"), fresh);
    }

    /** Until hv1 reports again, having stood down against the definitions' current head. */
    private void awaitStoodDownAtHead() throws InterruptedException {
        Await.until("hv1 reporting again, stood down at the head", Duration.ofSeconds(20), () -> fleet.controller()
                .registry().get("hv1").map(h -> !fleet.controller().liveness().silent(h, fleet.controller().registry()
                        .nanoTime()) && h.report().getStoodDownCommit().equals(fleet.controller().vmStore().repo()
                        .headNow())).orElse(false));
    }

    @Test
    void aSuspectedHostSaysSoAndWhatToDoInHostShowAndNothingMovesInManualMode() throws Exception {
        start(FenceSettings.none());
        lose("hv3");
        Await.until("hv3 suspected lost in host show", Duration.ofSeconds(20),
                () -> cli("host", "show", "hv3").out().contains("suspected lost"));
        String shown = cli("host", "show", "hv3").out();
        assertTrue(shown.contains("failover is manual: virtfleet host fence hv3"), shown);
        assertEquals(HostState.HOST_STATE_UNREACHABLE, state("hv3"), "a suspicion is not a verdict: not fenced");
        assertFalse(fleet.controller().fencing().view().of("hv3").isPresent());
    }
}
