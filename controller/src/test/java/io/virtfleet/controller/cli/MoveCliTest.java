package io.virtfleet.controller.cli;

import io.virtfleet.controller.testkit.CliRun;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.JsonFormat;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.proto.v1.VmProgress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vm move --dry-run} and {@code host drain --move} as the operator sees them, against an embedded fleet whose
 * test-driver hosts cannot migrate (no libvirt TLS certificate): a drain leaves its VM where it is. Live moves
 * themselves are in MoveRealFleetTest.
 */
class MoveCliTest {
    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;


    @BeforeAll
    static void startFleetWithOneVm() throws Exception {
        fleet = EmbeddedFleet.builder(work).heartbeat(Duration.ofMillis(200)).simulatedNetwork(true).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        CliRun created = cli("vm", "create", "web", "--storage", "raw", "--size", "1G", "--lan", "10", "--memory", "1G",
                "--vcpus", "1", "--profile", "base");
        assertEquals(0, created.code(), created.out() + created.err());
        CliRun shown = cli("vm", "show", "web", "-o", "json");
        io.virtfleet.proto.v1.Vm.Builder vm = io.virtfleet.proto.v1.Vm.newBuilder();
        JsonFormat.parser().ignoringUnknownFields().merge(shown.out(), vm);
        home = vm.getHomeHost();
        other = home.equals("hv2") ? "hv3" : "hv2";
        empty = List.of("hv1", "hv2", "hv3").stream().filter(h -> !h.equals(home) && !h.equals(other)).findFirst()
                .orElseThrow();
    }

    /** web's home host, another host, and the host that runs no VM of the fleet. */
    private static String home;
    private static String other;
    private static String empty;

    @AfterAll
    static void stopFleet() {
        fleet.close();
    }

    private static CliRun cli(String... args) {
        return CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), args);
    }

    @Test
    void aDryRunToARefusedHostPrintsTheRefusalAndExitsSix() {
        CliRun fits = cli("vm", "move", "web", "--dry-run", "--to", other);
        assertEquals(ExitCode.OK, fits.code(), fits.out() + fits.err());
        assertTrue(fits.out().contains("would move web to " + other + " (dry run: nothing changed)"), fits.out());

        assertEquals(ExitCode.OK, cli("host", "drain", other).code());
        try {
            CliRun run = cli("vm", "move", "web", "--dry-run", "--to", other);
            assertEquals(ExitCode.NO_HOST_FITS, run.code(), run.out() + run.err());
            assertFalse(run.out().contains("would move"), run.out());
            assertTrue(run.out().contains("web cannot move to " + other + ": "), run.out());
            assertTrue(run.out().contains("draining") && run.err().contains(other + ": host is draining"), run.out() + run.err());
        } finally {
            assertEquals(ExitCode.OK, cli("host", "undrain", other).code());
        }
    }

    @Test
    void aDryRunOfAVmTheMoveWouldRefuseEndsAsTheMoveDoes() {
        assertEquals(ExitCode.OK, cli("vm", "stop", "web").code());
        try {
            CliRun dry = cli("vm", "move", "web", "--dry-run", "--to", other);
            CliRun real = cli("vm", "move", "web", "--to", other);
            assertEquals(ExitCode.FAILURE, dry.code(), dry.out() + dry.err());
            assertEquals(real.code(), dry.code(), real.out() + real.err());
            assertTrue(dry.err().contains("web is stopped and its disk is local (raw)"), dry.err());
            assertTrue(real.err().contains("web is stopped and its disk is local (raw)"), real.err());
        } finally {
            assertEquals(ExitCode.OK, cli("vm", "start", "web").code());
        }
    }

    @Test
    void aDryRunToTheVmsOwnHomeIsBadInputAndToAnUnknownHostIsNotFound() {
        CliRun own = cli("vm", "move", "web", "--dry-run", "--to", home);
        assertEquals(ExitCode.USAGE, own.code(), own.out() + own.err());
        assertTrue(own.err().contains("to_host: \"" + home + "\" is not accepted"), own.err());
        CliRun unknown = cli("vm", "move", "web", "--dry-run", "--to", "hv7");
        assertEquals(4, unknown.code(), unknown.out() + unknown.err());
        assertTrue(unknown.err().contains("no host named hv7"), unknown.err());
        CliRun move = cli("vm", "move", "web", "--to", "hv7");
        assertEquals(4, move.code(), move.out() + move.err());
        assertTrue(move.err().contains("no host named hv7"), move.err());
    }

    @Test
    void aDrainsLastEventCountsTheVmsLeftAndTheExitCodeFollowsIt() throws Exception {
        CliRun stuck = cli("host", "drain", home, "--move", "-o", "json");
        assertEquals(ExitCode.FAILURE, stuck.code(), stuck.out() + stuck.err());
        assertEquals(1, last(stuck).getVmsLeft(), stuck.out());
        assertEquals(ExitCode.OK, cli("host", "undrain", home).code());

        CliRun emptied = cli("host", "drain", empty, "--move", "-o", "json");
        assertEquals(ExitCode.OK, emptied.code(), emptied.out() + emptied.err());
        VmProgress left = last(emptied);
        assertEquals("left", left.getStep());
        assertTrue(left.hasVmsLeft(), emptied.out());
        assertEquals(0, left.getVmsLeft());
        assertEquals(ExitCode.OK, cli("host", "undrain", empty).code());
    }

    private static VmProgress last(CliRun run) throws Exception {
        List<String> lines = run.out().lines().filter(l -> l.startsWith("{") && l.contains("\"step\"")).toList();
        VmProgress.Builder p = VmProgress.newBuilder();
        JsonFormat.parser().merge(lines.get(lines.size() - 1), p);
        return p.build();
    }
}
