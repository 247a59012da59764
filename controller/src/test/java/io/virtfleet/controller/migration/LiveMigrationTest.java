package io.virtfleet.controller.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.hypervisor.Migration;
import io.virtfleet.agent.hypervisor.MigrationException;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.storage.RbdDisks;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.HypervisorRack.Host;
import io.virtfleet.controller.testkit.HypervisorRack.LibvirtListening;
import io.virtfleet.controller.testkit.LibvirtPki;
import io.virtfleet.controller.testkit.MigrationRig;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.MigrateDomainRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MigrationProgress.Phase;
import io.virtfleet.proto.v1.StorageTier;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo.DomainState;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;

/**
 * The agent's side of a live migration (MigrateDomain) on real components: three simulated hypervisors, each a
 * network namespace on one underlay with a real libvirtd (QEMU/TCG) listening on TLS only, with certificates from a
 * fleet CA the test made; a real single-node Ceph. hv1's agent (its API in this JVM, on hv1's libvirtd) migrates
 * running VMs booted from the Debian installer's kernel and initrd, which keep running, to hv2. hv3 is a host no fleet
 * VM may go to: its libvirtd's certificate comes from another CA, and it also listens on plaintext TCP.
 *
 * <p>What it proves, in order (each scenario on the hosts the previous one left):
 * <ol>
 *   <li>a Ceph-backed VM moves over TLS while it runs: the target runs it with the sent definition kept, the source
 *       keeps its own definition, shut off; the downtime is reported;
 *   <li>a raw-disk VM moves with its disk copied: the target's disk then holds what the source's did;
 *   <li>a migration cancelled in flight (the client went away) leaves the VM running on its source, nothing on the
 *       target; a second migration of the VM meanwhile is refused;
 *   <li>a target whose libvirtd is killed mid-way: the migration is aborted, the VM runs on its source, the target's
 *       half-made VM goes away;
 *   <li>a migration that fails with the VM paused on its source is UNKNOWN (not ABORTED, which says it runs there);
 *   <li>no plaintext: a target with a certificate of another CA (and plaintext TCP open) is refused, and so is a
 *       target whose QEMU has no TLS certificates; the VM stays where it runs;
 *   <li>a target address nobody answers at is UNAVAILABLE;
 *   <li>a target address where another fleet host's libvirtd answers is refused, naming both hosts;
 *   <li>a migration still running at the agent's migration-timeout is aborted: the VM runs on its source.
 * </ol>
 * Migrations are slowed (libvirt's migrate-setspeed, 1 MiB/s) where a test must act while one is in flight; the test
 * acts on the progress events the agent streams, never after a pause.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh (and debian-installer-12-netboot-amd64); fails (never
 * skips) without them.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LiveMigrationTest {
    private static final String UNDERLAY = "10.249.4";
    private static final long MEMORY = 384 * Bytes.MIB;
    private static final int XML_INACTIVE = 2;
    /** Bound on waiting for one progress event or a call's end; events come every half second. */
    private static final long EVENT_SECONDS = 120;

    @TempDir
    static Path work;

    private static MigrationRig rig;
    private static Host hv1;
    private static Host hv2;
    private static Host hv3;
    /** hv1's agent: its libvirt connection, migrations and API. */
    private static LibvirtHypervisor hypervisor;
    private static Migrations migrations;
    private static ManagedChannel channel;
    private static final long t0 = System.nanoTime();

    @BeforeAll
    static void threeHypervisorsOnTlsAndCeph() throws Exception {
        LibvirtPki fleet = LibvirtPki.create(work.resolve("fleet-ca"));
        LibvirtPki stranger = LibvirtPki.create(work.resolve("other-ca"));
        rig = MigrationRig.start(work.resolve("rack"), UNDERLAY, List.of("hv1", "hv2", "hv3"),
                host -> host.equals("hv3") ? new LibvirtListening(stranger, true) : new LibvirtListening(fleet, false),
                LiveMigrationTest::lap);
        hv1 = rig.host("hv1");
        hv2 = rig.host("hv2");
        hv3 = rig.host("hv3");
        hypervisor = rig.agent("hv1").hypervisor();
        migrations = rig.agent("hv1").migrations();
        channel = rig.agent("hv1").channel();
    }

    @AfterAll
    static void stopEverything() {
        if (rig != null) {
            rig.close();
        }
        lap("cleaned up");
    }

    @Test
    @Order(1)
    void aRunningCephVmMovesOverTlsAndKeepsRunningOnTheTarget() throws Exception {
        String vm = "web";
        new RbdDisks(rig.rack().cephSettings()).ensure(StorageTier.STORAGE_TIER_SATA, vm, Bytes.GIB);
        String definition = render(vm, StorageTier.STORAGE_TIER_SATA);
        // Every host holds a Ceph-backed VM's definition, shut off: the target's replica is replaced by what it is sent.
        define(hv2, definition);
        startOnHv1(vm, definition);
        String sent = forHost(definition, "hv2");

        long start = System.nanoTime();
        Call call = Call.start(request(vm, hv2, sent, false));
        List<MigrationProgress> events = call.all();
        assertEquals(Status.Code.OK, call.end().getCode(), call.end() + " after " + phases(events));
        lap(vm + " moved in " + ms(start) + " ms: " + summary(events));

        assertEquals(Phase.PHASE_PREPARING, events.get(0).getPhase());
        assertTrue(phases(events).contains(Phase.PHASE_COPYING_MEMORY), "memory copied while it ran: " + phases(events));
        assertFalse(phases(events).contains(Phase.PHASE_COPYING_DISK), "a Ceph disk is not copied: " + phases(events));
        MigrationProgress done = events.get(events.size() - 1);
        assertEquals(Phase.PHASE_DONE, done.getPhase());
        assertEquals(100, done.getPercent());
        assertTrue(done.getDowntimeMs() > 0, "libvirt's downtime is reported: " + done);
        assertTrue(done.getElapsedMs() > 0 && done.getDataTotalBytes() > 0, done.toString());
        assertEquals(0, done.getDiskCopiedBytes(), "no disk copied for Ceph: " + done);

        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv2, vm).orElseThrow(), "runs on the target");
        assertEquals(Optional.of(DomainState.VIR_DOMAIN_SHUTOFF), state(hv1, vm), "the source keeps its definition, off");
        assertTrue(persistent(hv1, vm), "never undefined on the source");
        String kept = inactiveXml(hv2, vm);
        assertTrue(kept.contains("<description>home hv2</description>"), "the target keeps the definition it was sent:\n"
                + kept);
        define(hv2, sent);
        assertEquals(kept, inactiveXml(hv2, vm), "libvirt makes nothing else of the sent definition");
        assertFalse(inactiveXml(hv1, vm).contains("home hv2"), "the source's definition is its own");
        assertTrue(qemuOf(hv1, vm).isEmpty(), "no QEMU of " + vm + " left on the source");
        long cpu = cpuTime(hv2, vm);
        Await.until("the guest keeps running on hv2", Duration.ofSeconds(60), () -> cpuTime(hv2, vm) > cpu);
        destroy(hv2, vm);
    }

    @Test
    @Order(2)
    void aRawDiskVmMovesWithItsDiskCopied() throws Exception {
        String vm = "db";
        Path source = disk(hv1, vm);
        Path target = disk(hv2, vm);
        long size = 256 * Bytes.MIB;
        writeDisk(source, size);
        Command.of("qemu-img", "create", "-q", "-f", "raw", target.toString(), Long.toString(size)).runChecked();
        String definition = render(vm, StorageTier.STORAGE_TIER_RAW);
        startOnHv1(vm, definition);
        assertNotEquals(sha256(source), sha256(target), "the target's disk starts empty");

        long start = System.nanoTime();
        Call call = Call.start(request(vm, hv2, forHost(definition, "hv2"), true));
        List<MigrationProgress> events = call.all();
        assertEquals(Status.Code.OK, call.end().getCode(), call.end() + " after " + phases(events));
        lap(vm + " moved with its disk in " + ms(start) + " ms: " + summary(events));

        List<Phase> phases = phases(events);
        assertTrue(phases.contains(Phase.PHASE_COPYING_MEMORY), "memory copied: " + phases);
        // Progress is sampled every half second: a short disk copy may fall between two samples, so where the disk
        // phase shows it comes before memory, and what libvirt copied is taken from its completed job.
        if (phases.contains(Phase.PHASE_COPYING_DISK)) {
            assertTrue(phases.lastIndexOf(Phase.PHASE_COPYING_DISK) < phases.indexOf(Phase.PHASE_COPYING_MEMORY),
                    "the disk first, then memory: " + phases);
            MigrationProgress copying = events.stream().filter(e -> e.getPhase() == Phase.PHASE_COPYING_DISK)
                    .reduce((a, b) -> b).orElseThrow();
            assertTrue(copying.getDataTotalBytes() >= size, "the disk counts in the data to send: " + copying);
        }
        MigrationProgress done = events.get(events.size() - 1);
        assertTrue(done.getDiskCopiedBytes() >= size, "libvirt copied the whole disk: " + done);
        assertTrue(done.getDataTotalBytes() >= done.getDiskCopiedBytes(), "the disk counts in the data sent: " + done);
        assertEquals(Phase.PHASE_DONE, events.get(events.size() - 1).getPhase());
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv2, vm).orElseThrow());
        assertEquals(Optional.of(DomainState.VIR_DOMAIN_SHUTOFF), state(hv1, vm));

        suspend(hv2, vm); // nothing writes the target's disk while it is compared
        assertEquals(sha256(source), sha256(target), "the target's disk holds what the source's did");
        destroy(hv2, vm);
    }

    @Test
    @Order(3)
    void aMigrationCancelledInFlightLeavesTheVmRunningOnItsSource() throws Exception {
        String vm = "api";
        new RbdDisks(rig.rack().cephSettings()).ensure(StorageTier.STORAGE_TIER_SATA, vm, Bytes.GIB);
        String definition = render(vm, StorageTier.STORAGE_TIER_SATA);
        startOnHv1(vm, definition);
        slowDown(vm);

        Call call = Call.start(request(vm, hv2, forHost(definition, "hv2"), false));
        MigrationProgress copying = call.until(Phase.PHASE_COPYING_MEMORY);
        Migration inFlight = migrations.inFlight(vm).orElseThrow();
        Call second = Call.start(request(vm, hv2, forHost(definition, "hv2"), false));
        second.all();
        assertEquals(Status.Code.FAILED_PRECONDITION, second.end().getCode(), second.end().toString());
        assertTrue(second.end().getDescription().startsWith("api is already being migrated to hv2"),
                second.end().getDescription());

        // The migration holds neither the agent's libvirt connection nor its lock: the host's poll answers meanwhile.
        var snapshot = CompletableFuture.supplyAsync(hypervisor::snapshot).get(30, TimeUnit.SECONDS);
        assertTrue(snapshot.healthy(), snapshot.info().getError());
        assertTrue(snapshot.domains().stream().anyMatch(d -> d.getName().equals(vm)
                && d.getState() == io.virtfleet.proto.v1.DomainState.DOMAIN_STATE_RUNNING), snapshot.domains().toString());
        assertEquals(Phase.PHASE_COPYING_MEMORY, call.until(Phase.PHASE_COPYING_MEMORY).getPhase(), "still in flight");
        assertTrue(migrating(vm), "the host says it is migrating api: where it runs is about to change");

        call.cancel(); // as the controller's call ends when the operator presses Ctrl-C
        lap(vm + ": cancelled at " + copying.getDetail());
        ExecutionException ended = assertThrows(ExecutionException.class, () -> inFlight.result().get(EVENT_SECONDS,
                TimeUnit.SECONDS));
        MigrationException aborted = assertInstanceOf(MigrationException.class, ended.getCause());
        assertEquals(MigrationException.Kind.ABORTED, aborted.kind());
        assertEquals("migration of api to hv2 (" + hv2.address() + ") cancelled: api still runs on hv1",
                aborted.getMessage());
        lap(vm + ": " + aborted.getMessage());

        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow(), "still runs on its source");
        Await.until("no QEMU of api left on hv2", Duration.ofSeconds(60), () -> qemuOf(hv2, vm).isEmpty());
        assertEquals(Optional.empty(), state(hv2, vm), "nothing of api on the target");
        assertTrue(migrations.inFlight(vm).isEmpty(), "api may be migrated again");
        assertFalse(migrating(vm), "no longer migrating");
    }

    /** Whether hv1's agent, asked for a fresh report, marks the VM as being migrated away. */
    private static boolean migrating(String vm) {
        return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .describeHost(io.virtfleet.proto.v1.DescribeHostRequest.newBuilder().setFresh(true).build())
                .getDomainsList().stream().filter(d -> d.getName().equals(vm)).findFirst().orElseThrow().getMigrating();
    }

    @Test
    @Order(4)
    void aTargetWhoseLibvirtdDiesMidWayLeavesTheVmRunningOnItsSource() throws Exception {
        String vm = "api"; // still running on hv1, still slowed down
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow());
        Call call = Call.start(request(vm, hv2, forHost(render(vm, StorageTier.STORAGE_TIER_SATA), "hv2"), false));
        MigrationProgress copying = call.until(Phase.PHASE_COPYING_MEMORY);
        long killed = System.nanoTime();
        hv2.node().killDaemon();
        lap("hv2's libvirtd killed at " + copying.getDetail());

        call.all();
        Status status = call.end();
        lap(vm + ": " + status + " " + ms(killed) + " ms after the kill");
        assertEquals(Status.Code.ABORTED, status.getCode(), status.toString());
        assertTrue(status.getDescription().startsWith("migration of api to hv2 (" + hv2.address() + ") aborted: hv2's"
                + " libvirtd stopped answering"), status.getDescription());
        assertTrue(status.getDescription().endsWith("; api still runs on hv1"), status.getDescription());
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow(), "still runs on its source");
        Await.until("the half-made api on hv2 gone", Duration.ofSeconds(60), () -> qemuOf(hv2, vm).isEmpty());

        hv2.node().startDaemon();
        assertEquals(Optional.empty(), state(hv2, vm), "hv2's libvirtd, back, holds nothing of api");
    }

    @Test
    @Order(5)
    void aMigrationThatFailsWithItsSourcePausedIsNotSaidToHaveLeftItRunning() throws Exception {
        String vm = "api"; // running on hv1 again, still slowed down; hv2's libvirtd back
        // Paused before the migration, libvirt leaves it paused when the migration fails, as it leaves a VM whose
        // migration was interrupted after the switch-over began.
        suspend(hv1, vm);
        try {
            Call call = Call.start(request(vm, hv2, forHost(render(vm, StorageTier.STORAGE_TIER_SATA), "hv2"), false));
            MigrationProgress copying = call.until(Phase.PHASE_COPYING_MEMORY);
            hv2.node().killDaemon();
            lap("hv2's libvirtd killed at " + copying.getDetail() + ", api paused on hv1");

            call.all();
            Status status = call.end();
            lap(vm + ": " + status);
            assertEquals(DomainState.VIR_DOMAIN_PAUSED, state(hv1, vm).orElseThrow());
            assertEquals(Status.Code.UNKNOWN, status.getCode(), status.toString());
            assertTrue(status.getDescription().endsWith("; api is paused on hv1, not running: whether hv2 took it over"
                    + " is for the hosts' reports to tell"), status.getDescription());
        } finally {
            // The hosts as the next scenarios expect them: api running on hv1, hv2's libvirtd up.
            onDomain(hv1, vm, d -> {
                if (d.getInfo().state == DomainState.VIR_DOMAIN_PAUSED) {
                    d.resume();
                }
                return null;
            });
            Await.until("the half-made api on hv2 gone", Duration.ofSeconds(60), () -> qemuOf(hv2, vm).isEmpty());
            hv2.node().startDaemon();
        }
        assertEquals(Optional.empty(), state(hv2, vm));
    }

    @Test
    @Order(6)
    void noMigrationGoesUnencrypted() throws Exception {
        String vm = "api";
        String definition = render(vm, StorageTier.STORAGE_TIER_SATA);
        // hv3 would take a plaintext connection: its libvirtd listens on TCP without authentication too.
        Connect plaintext = new Connect("qemu+tcp://" + hv3.address() + "/system", false);
        plaintext.close();
        Call toStranger = Call.start(request(vm, hv3, forHost(definition, "hv3"), false));
        List<MigrationProgress> events = toStranger.all();
        Status refused = toStranger.end();
        lap("to hv3: " + refused);
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getCode(), refused.toString());
        assertTrue(refused.getDescription().startsWith("cannot migrate api: hv3's libvirtd at " + hv3.address()
                + " (TLS, port 16514) and this host do not trust each other's fleet-issued libvirt certificates: "),
                refused.getDescription());
        assertFalse(phases(events).contains(Phase.PHASE_COPYING_MEMORY), phases(events).toString());
        assertEquals(Optional.empty(), state(hv3, vm), "nothing reached hv3");

        // The target's libvirtd is trusted, but its QEMU has no TLS certificates: QEMU's stream is never plaintext.
        Path qemuPki = hv2.node().qemuPkiDir();
        Path aside = qemuPki.resolveSibling("qemu-aside");
        Files.move(qemuPki, aside);
        try {
            Call noQemuTls = Call.start(request(vm, hv2, forHost(definition, "hv2"), false));
            Optional<MigrationProgress> sending = noQemuTls.firstOf(Phase.PHASE_COPYING_MEMORY);
            if (sending.isPresent()) {
                noQemuTls.cancel();
                throw new AssertionError("QEMU sends memory to a target without TLS certificates: " + sending.get());
            }
            Status failed = noQemuTls.end();
            lap("to hv2 without QEMU's certificates: " + failed);
            assertEquals(Status.Code.FAILED_PRECONDITION, failed.getCode(), failed.toString());
            assertTrue(failed.getDescription().contains(qemuPki.resolve("ca-cert.pem").toString()),
                    "libvirt's own words name what is missing: " + failed.getDescription());
            assertTrue(failed.getDescription().endsWith("; api still runs on hv1"), failed.getDescription());
        } finally {
            Files.move(aside, qemuPki);
        }
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow());
        assertEquals(Optional.empty(), state(hv2, vm));
    }

    @Test
    @Order(7)
    void aTargetNobodyAnswersAtIsUnavailable() throws Exception {
        String vm = "api";
        String nobody = UNDERLAY + ".50"; // on the underlay, no host there
        MigrateDomainRequest request = request(vm, hv2, forHost(render(vm, StorageTier.STORAGE_TIER_SATA), "hv4"), false)
                .toBuilder().setTargetHost("hv4").setTargetAddress(nobody).build();
        Call call = Call.start(request);
        List<MigrationProgress> events = call.all();
        Status status = call.end();
        lap("to " + nobody + ": " + status);
        assertEquals(Status.Code.UNAVAILABLE, status.getCode(), status.toString());
        assertTrue(status.getDescription().startsWith("cannot migrate api: hv4's libvirtd at " + nobody
                + " (TLS, port 16514) is not reachable: unable to connect to server at '" + nobody + ":16514'"),
                status.getDescription());
        assertEquals(Phase.PHASE_PREPARING, events.get(events.size() - 1).getPhase(), "it never got further");
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow());
    }

    @Test
    @Order(8)
    void aTargetAddressWhereAnotherHostAnswersIsRefusedNamingBoth() throws Exception {
        String vm = "api";
        // A stale address: the controller means hv3, but hv2 (trusted, of the fleet CA) answers there.
        MigrateDomainRequest request = request(vm, hv2, forHost(render(vm, StorageTier.STORAGE_TIER_SATA), "hv3"), false)
                .toBuilder().setTargetHost("hv3").build();
        Call call = Call.start(request);
        List<MigrationProgress> events = call.all();
        Status status = call.end();
        lap("hv3 at hv2's address: " + status);
        assertEquals(Status.Code.FAILED_PRECONDITION, status.getCode(), status.toString());
        assertEquals("refusing to migrate api to hv3: the libvirtd at " + hv2.address() + ":16514 presents the"
                + " certificate of hv2 (CN=hv2), not hv3's; the address the controller has for hv3 may be another"
                + " host's (see virtfleet host show hv3)", status.getDescription());
        assertFalse(phases(events).contains(Phase.PHASE_COPYING_MEMORY), phases(events).toString());
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow());
        assertEquals(Optional.empty(), state(hv2, vm), "nothing reached hv2");
    }

    @Test
    @Order(9)
    void aMigrationRunningPastTheAgentsTimeoutIsAbortedAndTheVmStaysOnItsSource() throws Exception {
        String vm = "api"; // still slowed down: memory goes at 1 MiB/s, it never finishes on its own here
        java.util.concurrent.atomic.AtomicLong skipped = new java.util.concurrent.atomic.AtomicLong();
        Migrations bounded = new Migrations(hypervisor, MigrationRig.IMAGES, MigrationRig.INSTALLER,
                new Migrations.Settings("hv1", hv1.libvirtTlsDirectory(), () -> java.util.Set.of(hv1.address()),
                        Duration.ofMinutes(30)).withNanoClock(() -> System.nanoTime() + skipped.get()), () -> { });
        try {
            Migration migration = bounded.prepare(request(vm, hv2, forHost(render(vm, StorageTier.STORAGE_TIER_SATA),
                    "hv2"), false));
            BlockingQueue<MigrationProgress> events = new LinkedBlockingQueue<>();
            migration.start(events::add);
            MigrationProgress copying;
            do {
                copying = events.poll(EVENT_SECONDS, TimeUnit.SECONDS);
                if (copying == null) {
                    throw new AssertionError("no progress within " + EVENT_SECONDS + " s");
                }
            } while (copying.getPhase() != Phase.PHASE_COPYING_MEMORY);
            skipped.set(Duration.ofMinutes(31).toNanos()); // the agent's clock: half an hour later

            ExecutionException ended = assertThrows(ExecutionException.class, () -> migration.result().get(EVENT_SECONDS,
                    TimeUnit.SECONDS));
            MigrationException aborted = assertInstanceOf(MigrationException.class, ended.getCause());
            lap(vm + ": " + aborted.getMessage());
            assertEquals(MigrationException.Kind.ABORTED, aborted.kind());
            assertEquals("migration of api to hv2 (" + hv2.address() + "): its memory copy did not converge in 30 min (the agent's"
                    + " migration-timeout), aborted; api still runs on hv1", aborted.getMessage());
        } finally {
            bounded.close();
        }
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow(), "still runs on its source");
        Await.until("no QEMU of api left on hv2", Duration.ofSeconds(60), () -> qemuOf(hv2, vm).isEmpty());
        assertEquals(Optional.empty(), state(hv2, vm), "nothing of api on the target");
    }

    // ---------------------------------------------------------------------------------------------------------------

    /** A MigrateDomain call in flight, as the controller makes it: its events as they come, its end, its cancellation. */
    private static final class Call implements ClientResponseObserver<MigrateDomainRequest, MigrationProgress> {
        private final BlockingQueue<Optional<MigrationProgress>> events = new LinkedBlockingQueue<>();
        private final CompletableFuture<Status> end = new CompletableFuture<>();
        private volatile ClientCallStreamObserver<MigrateDomainRequest> call;

        static Call start(MigrateDomainRequest request) {
            Call c = new Call();
            AgentGrpc.newStub(channel).withDeadlineAfter(5, TimeUnit.MINUTES).migrateDomain(request, c);
            return c;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<MigrateDomainRequest> requestStream) {
            call = requestStream;
        }

        @Override
        public void onNext(MigrationProgress value) {
            events.add(Optional.of(value));
        }

        @Override
        public void onError(Throwable t) {
            end.complete(Status.fromThrowable(t));
            events.add(Optional.empty());
        }

        @Override
        public void onCompleted() {
            end.complete(Status.OK);
            events.add(Optional.empty());
        }

        /** The next event; empty once the call has ended. */
        Optional<MigrationProgress> next() throws InterruptedException {
            Optional<MigrationProgress> e = events.poll(EVENT_SECONDS, TimeUnit.SECONDS);
            if (e == null) {
                throw new AssertionError("no progress within " + EVENT_SECONDS + " s");
            }
            if (e.isEmpty()) {
                events.add(e); // the end stays the end
            }
            return e;
        }

        /** Events up to the first of {@code phase}, which it returns; fails if the call ends first. */
        MigrationProgress until(Phase phase) throws InterruptedException {
            List<Phase> seen = new ArrayList<>();
            while (true) {
                Optional<MigrationProgress> e = next();
                if (e.isEmpty()) {
                    throw new AssertionError("the call ended (" + end.getNow(null) + ") after " + seen + ", before "
                            + phase);
                }
                if (e.get().getPhase() == phase) {
                    return e.get();
                }
                seen.add(e.get().getPhase());
            }
        }

        /** The first event of {@code phase}, or empty if the call ends without one. */
        Optional<MigrationProgress> firstOf(Phase phase) throws InterruptedException {
            for (Optional<MigrationProgress> e = next(); e.isPresent(); e = next()) {
                if (e.get().getPhase() == phase) {
                    return e;
                }
            }
            return Optional.empty();
        }

        /** Every event still to come, up to the call's end. */
        List<MigrationProgress> all() throws InterruptedException {
            List<MigrationProgress> all = new ArrayList<>();
            for (Optional<MigrationProgress> e = next(); e.isPresent(); e = next()) {
                all.add(e.get());
            }
            return all;
        }

        Status end() throws Exception {
            return end.get(EVENT_SECONDS, TimeUnit.SECONDS);
        }

        void cancel() {
            call.cancel("the operator pressed Ctrl-C", null);
        }
    }

    private static MigrateDomainRequest request(String vm, Host target, String xml, boolean copyDisk) {
        return MigrateDomainRequest.newBuilder().setVmName(vm).setTargetHost(target.name())
                .setTargetAddress(target.address()).setTargetDomainXml(xml).setCopyDisk(copyDisk)
                .setTargetImagesDirectory(MigrationRig.IMAGES.toString()).build(); // as the target's libvirtd sees it
    }

    private static String render(String vm, StorageTier tier) {
        return rig.render(vm, tier, MEMORY);
    }

    /** The definition with a mark of the host it was rendered for: no ABI change, but visible in what a host keeps. */
    private static String forHost(String xml, String host) {
        return xml.replaceFirst("</uuid>", "</uuid><description>home " + host + "</description>");
    }

    private static void startOnHv1(String vm, String xml) throws Exception {
        rig.startOn("hv1", vm, xml);
        assertEquals(DomainState.VIR_DOMAIN_RUNNING, state(hv1, vm).orElseThrow());
    }

    /** libvirt keeps a migration speed set on a running domain for its next migrations: 1 MiB/s keeps one in flight. */
    private static void slowDown(String vm) {
        Command.of("virsh", "-c", hv1.node().uri(), "migrate-setspeed", vm, "1").runChecked();
    }

    private static Path disk(Host host, String vm) {
        return MigrationRig.disk(host, vm);
    }

    /** A sparse disk with random data at its start, middle and end. */
    private static void writeDisk(Path file, long size) throws IOException {
        Random random = new Random(14);
        byte[] chunk = new byte[4 * (int) Bytes.MIB];
        try (var channel = Files.newByteChannel(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long at : new long[] {0, size / 2, size - chunk.length}) {
                random.nextBytes(chunk);
                channel.position(at);
                channel.write(java.nio.ByteBuffer.wrap(chunk));
            }
        }
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 20];
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    // What each host's libvirtd says, asked directly as virsh on that host would.

    private interface OnDomain<T> {
        T apply(Domain d) throws LibvirtException;
    }

    private static <T> Optional<T> onDomain(Host host, String vm, OnDomain<T> what) throws LibvirtException {
        Connect conn = host.libvirt();
        try {
            Domain d;
            try {
                d = conn.domainLookupByName(vm);
            } catch (LibvirtException e) {
                if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_NO_DOMAIN) {
                    return Optional.empty();
                }
                throw e;
            }
            try {
                return Optional.ofNullable(what.apply(d));
            } finally {
                d.free();
            }
        } finally {
            conn.close();
        }
    }

    private static Optional<DomainState> state(Host host, String vm) throws LibvirtException {
        return onDomain(host, vm, d -> d.getInfo().state);
    }

    private static boolean persistent(Host host, String vm) throws LibvirtException {
        return onDomain(host, vm, d -> d.isPersistent() == 1).orElse(false);
    }

    private static String inactiveXml(Host host, String vm) throws LibvirtException {
        return onDomain(host, vm, d -> d.getXMLDesc(XML_INACTIVE)).orElseThrow();
    }

    private static long cpuTime(Host host, String vm) {
        try {
            return onDomain(host, vm, d -> d.getInfo().cpuTime).orElse(0L);
        } catch (LibvirtException e) {
            throw new AssertionError(e);
        }
    }

    private static void define(Host host, String xml) throws LibvirtException {
        Connect conn = host.libvirt();
        try {
            conn.domainDefineXML(xml).free();
        } finally {
            conn.close();
        }
    }

    private static void suspend(Host host, String vm) throws LibvirtException {
        onDomain(host, vm, d -> {
            d.suspend();
            return null;
        });
    }

    private static void destroy(Host host, String vm) throws LibvirtException {
        onDomain(host, vm, d -> {
            d.destroy();
            return null;
        });
    }

    /** The host's QEMU processes running {@code vm} (its libvirtd up or not). */
    private static List<ProcessHandle> qemuOf(Host host, String vm) {
        return host.node().qemuProcesses().stream()
                .filter(p -> p.info().commandLine().map(c -> c.contains("guest=" + vm + ",")).orElse(false)).toList();
    }

    private static List<Phase> phases(List<MigrationProgress> events) {
        return events.stream().map(MigrationProgress::getPhase).toList();
    }

    private static String summary(List<MigrationProgress> events) {
        Map<Phase, Long> counts = new java.util.EnumMap<>(Phase.class);
        events.forEach(e -> counts.merge(e.getPhase(), 1L, Long::sum));
        MigrationProgress last = events.get(events.size() - 1);
        return counts + ", last: " + last.getDetail() + " (" + last.getElapsedMs() + " ms, downtime "
                + last.getDowntimeMs() + " ms)";
    }

    private static long ms(long since) {
        return (System.nanoTime() - since) / 1_000_000;
    }

    private static void lap(String what) {
        System.out.printf("[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, what);
    }
}
