package io.virtfleet.controller.failover;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.testkit.MoveFleet;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.RecoverHostRequest;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;
import org.libvirt.LibvirtException;

/**
 * A lost host's Ceph-backed VM restarted elsewhere on real components ({@link MoveFleet}: three hypervisors in
 * network namespaces on underlay 10.249.23.0/24, real libvirtds and QEMU, real agent JVMs, a real single-node Ceph,
 * the controller in a JVM of its own). web runs on hv1; hv1 is lost: its cable cut, its agent and web's QEMU frozen
 * (SIGSTOP). The controller is restarted holding hv1 confirmed down (the verdict; the Ceph blocklist is the fencing's),
 * and {@code host recover hv1} restarts web on another host: its guest executes there, its record names that host, in
 * one commit. The guests boot nothing; a running QEMU whose CPU time grows is the proof that the VM runs.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class FailoverRealFleetTest {
    private static final Duration CONVERGE = Duration.ofSeconds(90);

    @TempDir
    Path work;

    private MoveFleet fleet;
    private ControllerJvm restarted;
    private Long frozenQemu;

    @AfterEach
    void stop() {
        if (frozenQemu != null) {
            Command.of("kill", "-CONT", Long.toString(frozenQemu)).run(); // so the rack can stop it
        }
        if (fleet != null && fleet.rack().agent("hv1") != null) {
            Command.of("kill", "-CONT", Long.toString(fleet.rack().agent("hv1").pid())).run();
        }
        if (restarted != null) {
            System.out.println(restarted.logTail(80));
            restarted.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aFrozenCutOffHostsCephVmRunsOnAnotherHostAfterRecover() throws Exception {
        fleet = MoveFleet.start(work, "10.249.23", List.of("hv1", "hv2", "hv3"), Duration.ofMillis(250), CONVERGE,
                what -> System.out.println("[FailoverRealFleetTest] " + what));
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
        long before = cpuTime(rack, "hv1", "web");
        await("web's guest executes on hv1", () -> cpuTime(rack, "hv1", "web") > before);
        int commits = history(operator).size();

        // hv1 is lost: cut off, its agent and web's QEMU frozen.
        Path pidFile = rack.host("hv1").node().dir().resolve("run").resolve("qemu").resolve("web.pid");
        frozenQemu = Long.parseLong(Files.readString(pidFile).strip());
        rack.cut("hv1");
        Command.of("kill", "-STOP", Long.toString(rack.agent("hv1").pid())).runChecked();
        Command.of("kill", "-STOP", Long.toString(frozenQemu)).runChecked();
        await("hv1 unreachable", () -> operator.withDeadlineAfter(5, TimeUnit.SECONDS).getHost(GetHostRequest.newBuilder()
                .setName("hv1").build()).getState() == HostState.HOST_STATE_UNREACHABLE);

        // The verdict: the controller restarted holding hv1 confirmed down.
        ControllerJvm first = fleet.controller();
        first.close();
        restarted = ControllerJvm.start(fleet.settings().withPort(first.port())
                .withSystemProperties(Map.of(ControllerJvm.CONFIRMED_DOWN, "hv1")), work.resolve("controller-2.log"));
        await("hv2 and hv3 registered again and ready", () -> {
            try {
                return operator.withDeadlineAfter(5, TimeUnit.SECONDS).listHosts(ListHostsRequest.getDefaultInstance())
                        .getHostsList().stream().filter(h -> !h.getName().equals("hv1")
                                && h.getState() == HostState.HOST_STATE_READY).count() == 2;
            } catch (io.grpc.StatusRuntimeException e) {
                return false; // the restarted controller not serving yet
            }
        });

        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(3, TimeUnit.MINUTES).recoverHost(RecoverHostRequest.newBuilder().setName("hv1").build())
                .forEachRemaining(steps::add);
        String target = vm(operator, "web").getHomeHost();
        assertNotEquals("hv1", target, steps.toString());
        assertTrue(steps.stream().anyMatch(p -> p.getStep().equals("recovered")
                && p.getDetail().equals("web: confirmed down hv1, placed on " + target + ", started")), steps.toString());
        assertEquals(0, steps.get(steps.size() - 1).getVmsLeft(), steps.toString());
        long there = cpuTime(rack, target, "web");
        await("web's guest executes on " + target, () -> cpuTime(rack, target, "web") > there && there >= 0);
        List<VmEvent> history = history(operator);
        assertEquals(commits + 1, history.size(), "one commit: " + history);
        assertTrue(history.get(history.size() - 1).getMessage().startsWith("failover web from lost host hv1 to " + target),
                history.get(history.size() - 1).getMessage());
    }

    private static void draining(FleetGrpc.FleetBlockingStub operator, String host, boolean on) {
        operator.withDeadlineAfter(30, TimeUnit.SECONDS).setHostDraining(SetHostDrainingRequest.newBuilder().setName(host)
                .setDraining(on).build());
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
            var c = rack.host(host).libvirt();
            try {
                Domain d = c.domainLookupByName(vm);
                DomainInfo info = d.getInfo();
                return info.state == DomainInfo.DomainState.VIR_DOMAIN_RUNNING ? info.cpuTime : -1L;
            } catch (LibvirtException notThere) {
                return -1L;
            } finally {
                c.close();
            }
        } catch (LibvirtException e) {
            throw new AssertionError(host + ": " + e.getMessage(), e);
        }
    }

    private void await(String what, BooleanSupplier done) throws InterruptedException {
        fleet.await(what, CONVERGE, done);
    }
}
