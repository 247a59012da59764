package io.virtfleet.controller.failover;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.testkit.MoveFleet;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FenceKind;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.UnfenceHostRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;

/**
 * Host loss from end to end, automatic failover, on real components ({@link MoveFleet}: three hypervisors in network
 * namespaces on underlay 10.249.24.0/24, real libvirtds and QEMU, real agent JVMs, a real single-node Ceph, the
 * controller in a JVM of its own with a cephx user that may only change the blocklist). web runs on hv1 and writes to
 * its disk; then hv1 is lost: its cable cut, its agent and web's QEMU frozen (SIGSTOP). Nobody types anything: the
 * controller suspects hv1, fences it in Ceph, and web runs on another host, recorded there in one commit. hv1's QEMU
 * is then resumed: its write never reaches the image (the blocklist) while the new QEMU's does, and the image's only
 * watcher is the new QEMU. hv1's cable comes
 * back: its agent destroys the stale domain (defined still, autostart off), the fleet shows no drift on hv1, and the
 * fence is lifted.
 *
 * <p>Writes are made through QEMU's own block layer (the HMP {@code qemu-io} command on web's disk): the guests boot
 * nothing, and a running QEMU whose CPU time grows is the proof that a VM runs.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class HostLossRealFleetTest {
    private static final Duration CONVERGE = Duration.ofSeconds(120);
    private static final String UNDERLAY = "10.249.24";
    private static final String HV1_ADDRESS = UNDERLAY + ".11";
    /** QEMU's HMP: one 4 KiB write to web's disk through QEMU's block layer, as its guest's would go. */
    private static final String WRITE = "qemu-io -d %s \"write -P 0x5a %d 4096\"";
    /** Where each write lands: one RADOS object (4 MiB) apiece, so `rbd diff` tells which writes reached Ceph. */
    private static final long BEFORE = 0;
    private static final long STALE = 8 * MIB;
    private static final long NEW_HOME = 16 * MIB;
    private static final int HMP = 1;

    @TempDir
    Path work;

    private MoveFleet fleet;
    private Long frozenQemu;
    private Long frozenAgent;

    @AfterEach
    void stop() {
        if (frozenQemu != null) {
            Command.of("kill", "-CONT", Long.toString(frozenQemu)).run(); // so the rack can stop it
        }
        if (frozenAgent != null) {
            Command.of("kill", "-CONT", Long.toString(frozenAgent)).run();
        }
        if (fleet != null) {
            System.out.println(fleet.controller().logTail(120));
            fleet.close();
        }
    }

    @Test
    void aLostHostIsFencedItsVmRunsElsewhereAndItStandsDownWhenItReturns() throws Exception {
        fleet = MoveFleet.start(work, UNDERLAY, List.of("hv1", "hv2", "hv3"), Duration.ofMillis(250), CONVERGE,
                what -> System.out.println("[HostLossRealFleetTest] " + what), this::automaticFailover);
        FleetGrpc.FleetBlockingStub operator = fleet.operator();
        HypervisorRack rack = fleet.rack();
        draining(operator, "hv2", true);
        draining(operator, "hv3", true);
        VmSpec spec = VmSpec.newBuilder().setName("web").setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(256 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(true).build();
        operator.withDeadlineAfter(3, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(p -> { });
        draining(operator, "hv2", false);
        draining(operator, "hv3", false);
        assertEquals("hv1", vm(operator, "web").getHomeHost());
        String wrote = write(rack, "hv1", BEFORE);
        assertTrue(written(rack.ceph()).contains(BEFORE), "web's QEMU on hv1 writes to its disk before: " + wrote);
        assertTrue(watchers(rack.ceph()).contains(HV1_ADDRESS + ":"), watchers(rack.ceph()));
        int commits = history(operator).size();

        // hv1 is lost: cut off, its agent and web's QEMU frozen. From here on nobody acts but the controller.
        Path pidFile = rack.host("hv1").node().dir().resolve("run").resolve("qemu").resolve("web.pid");
        frozenQemu = Long.parseLong(Files.readString(pidFile).strip());
        frozenAgent = rack.agent("hv1").pid();
        rack.cut("hv1");
        Command.of("kill", "-STOP", Long.toString(frozenAgent)).runChecked();
        Command.of("kill", "-STOP", Long.toString(frozenQemu)).runChecked();

        await("hv1 fenced in Ceph and web recorded on another host", () -> {
            Host hv1 = host(operator, "hv1");
            return hv1.getState() == HostState.HOST_STATE_FENCED && !vm(operator, "web").getHomeHost().equals("hv1");
        });
        Host fenced = host(operator, "hv1");
        assertEquals(FenceKind.FENCE_KIND_CEPH, fenced.getFence().getKind(), fenced.toString());
        assertEquals(List.of(HV1_ADDRESS), fenced.getFence().getAddressesList());
        assertEquals("controller", fenced.getFence().getBy());
        assertTrue(rack.ceph().ceph("osd", "blocklist", "ls").stdout().contains(HV1_ADDRESS + ":0/0"));
        String target = vm(operator, "web").getHomeHost();
        await("web's guest executes on " + target, () -> cpuTime(rack, target, "web") > 0);
        long there = cpuTime(rack, target, "web");
        await("web's CPU time grows on " + target, () -> cpuTime(rack, target, "web") > there);
        List<VmEvent> history = history(operator);
        assertEquals(commits + 1, history.size(), "one commit: " + history);
        assertTrue(history.get(history.size() - 1).getMessage().startsWith("failover web from lost host hv1 to " + target),
                history.get(history.size() - 1).getMessage());

        // hv1's QEMU comes back to life: it cannot write to the disk web now uses elsewhere.
        Command.of("kill", "-CONT", Long.toString(frozenQemu)).runChecked();
        frozenQemu = null;
        // Its write is asked first and not waited for: the OSDs refuse a blocklisted client's every request, so the
        // write either fails or never completes (librbd waits for the exclusive lock the new QEMU holds), and in
        // neither case can it reach the image, now or later.
        CompletableFuture<String> stale = CompletableFuture.supplyAsync(() -> {
            try {
                return hmp(rack, "hv1", WRITE, STALE, Duration.ofMinutes(5));
            } catch (Exception e) {
                return "no answer: " + e;
            }
        });
        String newWriter = write(rack, target, NEW_HOME);
        List<Long> extents = written(rack.ceph());
        assertTrue(extents.contains(NEW_HOME), "web's QEMU on " + target + " writes: " + newWriter + " " + extents);
        assertFalse(extents.contains(STALE), "the fenced QEMU's write reached the disk: " + extents);
        String targetAddress = rack.host(target).address();
        await("the image's only watcher is web's QEMU on " + target, () -> {
            String w = watchers(rack.ceph());
            return w.contains(targetAddress + ":") && !w.contains(HV1_ADDRESS + ":");
        });

        // hv1 comes back: its agent stands down (the stale domain destroyed, kept defined), then it is unfenced.
        Command.of("kill", "-CONT", Long.toString(frozenAgent)).runChecked();
        frozenAgent = null;
        rack.mend("hv1");
        await("hv1 stood down at the definitions' head", () -> {
            Host hv1 = host(operator, "hv1");
            String head = operator.withDeadlineAfter(10, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance())
                    .getHeadCommit();
            return hv1.getReport().getStoodDownCommit().equals(head) && hv1.getReport().getStandDownError().isEmpty();
        });
        assertEquals(-1L, cpuTime(rack, "hv1", "web"), "web no longer runs on hv1");
        assertFalse(written(rack.ceph()).contains(STALE), "the fenced QEMU never wrote, to the end: " + (stale.isDone()
                ? stale.join() : "its write still unanswered when its QEMU was destroyed"));
        Connect hv1 = rack.host("hv1").libvirt();
        try {
            assertFalse(hv1.domainLookupByName("web").getAutostart(), "the replica left on hv1 does not start at its next"
                    + " boot");
        } finally {
            hv1.close();
        }
        await("no drift on hv1", () -> operator.withDeadlineAfter(10, TimeUnit.SECONDS)
                .getDrift(GetDriftRequest.getDefaultInstance()).getDriftsList().stream()
                .noneMatch(d -> d.getHost().equals("hv1")));
        Host lifted = operator.withDeadlineAfter(60, TimeUnit.SECONDS)
                .unfenceHost(UnfenceHostRequest.newBuilder().setName("hv1").build());
        assertFalse(lifted.hasFence(), lifted.toString());
        assertFalse(rack.ceph().ceph("osd", "blocklist", "ls").stdout().contains(HV1_ADDRESS + ":0/0"));
        await("hv1 ready again", () -> host(operator, "hv1").getState() == HostState.HOST_STATE_READY);
        assertEquals(target, vm(operator, "web").getHomeHost(), "web stays where it was restarted");
    }

    /** The controller's settings: a cephx user limited to the blocklist, automatic failover after 6 s of silence. */
    private Map<String, String> automaticFailover(HypervisorRack rack) {
        Path keyring = work.resolve("ceph.client.virtfleet-fence.keyring");
        Command.Result user = rack.ceph().ceph("auth", "get-or-create", "client.virtfleet-fence", "mon",
                "allow command \"osd blocklist\", allow command \"osd blocklist ls\"", "-o", keyring.toString());
        if (user.exitCode() != 0) {
            throw new AssertionError("cannot make the fencing user: " + user.stderr());
        }
        return Map.of(ControllerJvm.FENCING, rack.ceph().conf() + "|virtfleet-fence|" + keyring,
                ControllerJvm.AUTOMATIC_FAILOVER, "automatic|PT6S");
    }

    /** An HMP command to web's QEMU on {@code host}, answered within the deadline (else it fails the test). */
    private static String write(HypervisorRack rack, String host, long offset) throws Exception {
        return hmp(rack, host, WRITE, offset, Duration.ofSeconds(60));
    }

    /** The offsets of the image's allocated extents, as Ceph has them. */
    private static List<Long> written(CephCluster ceph) {
        Command.Result diff = ceph.rbd("diff", CephCluster.SSD_POOL + "/web");
        if (diff.exitCode() != 0) {
            throw new AssertionError("rbd diff: " + diff.stderr());
        }
        return diff.stdout().lines().skip(1).map(l -> l.strip().split("\\s+")[0]).filter(o -> o.matches("[0-9]+"))
                .map(Long::parseLong).toList();
    }

    private static String hmp(HypervisorRack rack, String host, String command, long offset, Duration deadline)
            throws Exception {
        CompletableFuture<String> answer = CompletableFuture.supplyAsync(() -> {
            try {
                Connect c = rack.host(host).libvirt();
                try {
                    Domain web = c.domainLookupByName("web");
                    return web.qemuMonitorCommand(command.formatted(diskNode(web), offset), HMP);
                } finally {
                    c.close();
                }
            } catch (Exception e) {
                return "error: " + e.getMessage();
            }
        });
        return answer.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * The device web's disk is attached to, from HMP {@code info block} (e.g. {@code
     * /machine/peripheral/virtio-disk0/virtio-backend}): writing through it is writing as the guest's disk does.
     */
    private static String diskNode(Domain web) throws org.libvirt.LibvirtException {
        String info = web.qemuMonitorCommand("info block", HMP);
        for (String line : info.split("\\R")) {
            String l = line.strip();
            if (l.startsWith("Attached to:") && l.contains("virtio-disk0")) {
                return l.substring("Attached to:".length()).strip();
            }
        }
        throw new AssertionError("no device of virtio-disk0 in: " + info);
    }

    private static String watchers(CephCluster ceph) {
        return ceph.rbd("status", CephCluster.SSD_POOL + "/web").stdout();
    }

    private static void draining(FleetGrpc.FleetBlockingStub operator, String host, boolean on) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(SetHostDrainingRequest.newBuilder().setName(host)
                .setDraining(on).build());
    }

    private static Host host(FleetGrpc.FleetBlockingStub operator, String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getHost(GetHostRequest.newBuilder().setName(name).build());
    }

    private static Vm vm(FleetGrpc.FleetBlockingStub operator, String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    private static List<VmEvent> history(FleetGrpc.FleetBlockingStub operator) {
        return operator.withDeadlineAfter(10, TimeUnit.SECONDS).getVmHistory(GetVmRequest.newBuilder().setName("web")
                .build()).getEventsList();
    }

    /** The domain's CPU time while it runs on the host, -1 when it does not run there. */
    private static long cpuTime(HypervisorRack rack, String host, String vm) {
        try {
            Connect c = rack.host(host).libvirt();
            try {
                Domain d = c.domainLookupByName(vm);
                DomainInfo info = d.getInfo();
                return info.state == DomainInfo.DomainState.VIR_DOMAIN_RUNNING ? info.cpuTime : -1L;
            } catch (org.libvirt.LibvirtException notThere) {
                return -1L;
            } finally {
                c.close();
            }
        } catch (org.libvirt.LibvirtException e) {
            throw new AssertionError(host + ": " + e.getMessage(), e);
        }
    }

    private void await(String what, BooleanSupplier done) throws InterruptedException {
        fleet.await(what, CONVERGE, done);
    }
}
