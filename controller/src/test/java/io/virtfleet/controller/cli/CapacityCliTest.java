package io.virtfleet.controller.cli;

import io.virtfleet.controller.testkit.CliRun;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.JsonFormat;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.proto.v1.CapacityReport;
import io.virtfleet.proto.v1.HostCapacity;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code virtfleet capacity}, and the N+1 reserve in {@code place --explain}, against a running embedded fleet whose
 * hosts carry LANs and whose controller keeps the reserve ({@code n-plus-one = on}). Its three hosts (see
 * {@link EmbeddedFleet#defaultNodes}) have 8, 16 and 32 threads and 16, 64 and 128 GiB, and run domains virtfleet
 * did not make: 1.5 GiB and 3 vCPUs on hv1, 3.5 GiB and 4 vCPUs on hv2, 1.5 GiB and 3 vCPUs on hv3. With the
 * default policy (memory × 0.9, 4 vCPUs per thread) VMs of 2 GiB and 2 vCPUs run out of memory first:
 * hv1 (14.4 - 1.5) / 2 = 6, hv2 (57.6 - 3.5) / 2 = 27, hv3 (115.2 - 1.5) / 2 = 56, 89 in all.
 */
class CapacityCliTest {
    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;


    private static final String[] SPEC = {"--storage", "ssd", "--size", "20G", "--lan", "10", "--memory", "2G", "--vcpus", "2"};

    @BeforeAll
    static void startFleet() throws Exception {
        fleet = EmbeddedFleet.builder(work).heartbeat(Duration.ofMillis(200)).simulatedNetwork(true)
                .provisioning(p -> p.withPlacement(p.placement().withNPlusOne(true))).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stopFleet() {
        fleet.close();
    }

    private static CliRun cli(String... args) {
        return CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), args);
    }

    private static String[] capacity(String... more) {
        String[] args = new String[1 + SPEC.length + more.length];
        args[0] = "capacity";
        System.arraycopy(SPEC, 0, args, 1, SPEC.length);
        System.arraycopy(more, 0, args, 1 + SPEC.length, more.length);
        return args;
    }

    @Test
    void theTableShowsEachHostsCountWhatRunsOutFirstAndTheTotal() {
        CliRun run = cli(capacity("--no-n-plus-one"));
        assertEquals(0, run.code(), run.err());
        List<String> lines = Arrays.asList(run.out().split("\n"));
        assertEquals(List.of(
                "HOST  FITS  RUNS OUT FIRST  WHY",
                "hv3   56    memory          the 57th would need 2.0 GiB: 113.5 GiB promised + 2.0 GiB > 115.2 GiB (128.0 GiB × 0.90)",
                "hv2   27    memory          the 28th would need 2.0 GiB: 57.5 GiB promised + 2.0 GiB > 57.6 GiB (64.0 GiB × 0.90)",
                "hv1   6     memory          the 7th would need 2.0 GiB: 13.5 GiB promised + 2.0 GiB > 14.4 GiB (16.0 GiB × 0.90)",
                "Total: 89 more VMs of 2.0 GiB, 2 vCPUs, ssd disk of 20.0 GiB (without the N+1 reserve).",
                "Stops first: memory on 3 hosts.",
                "The controller's placement keeps the N+1 reserve (n-plus-one = on): creates stop at the count of"
                        + " --n-plus-one."), lines);
    }

    @Test
    void jsonIsTheWireContract() throws Exception {
        CliRun run = cli(capacity("--no-n-plus-one", "-o", "json"));
        assertEquals(0, run.code(), run.err());
        CapacityReport.Builder report = CapacityReport.newBuilder();
        JsonFormat.parser().merge(run.out(), report);
        assertEquals(89, report.getTotal());
        assertEquals(List.of(56L, 27L, 6L), report.getHostsList().stream().map(HostCapacity::getFits).toList());
        assertTrue(run.out().contains("\"n_plus_one\": false"), "proto field names: " + run.out());
        assertTrue(run.out().contains("\"n_plus_one_policy\": true"), run.out());
    }

    @Test
    void asPlacementKeepsTheReserveTheCountKeepsItAndSaysWhichHostWouldLackRoom() throws Exception {
        CliRun run = cli(capacity("-o", "json"));
        assertEquals(0, run.code(), run.err());
        CapacityReport.Builder report = CapacityReport.newBuilder();
        JsonFormat.parser().merge(run.out(), report);
        assertTrue(report.getNPlusOne());
        // Each host's Ceph-backed VMs must fit in the other two's room: hv3 alone takes more (56) than hv1 and hv2
        // together (33), so the reserve stops the count before memory does somewhere.
        assertTrue(report.getTotal() > 0 && report.getTotal() < 89, run.out());
        HostCapacity stopped = report.getHostsList().stream().filter(h -> h.getLimit().equals("n-plus-one")).findFirst()
                .orElseThrow(() -> new AssertionError("no host stopped by the reserve: " + run.out()));
        assertTrue(stopped.getReason().matches("after (one|a \\d+(st|nd|rd|th)) here, hv\\d's \\d+ Ceph-backed VMs \\(.*\\)"
                + " could not all restart elsewhere: .*"), stopped.getReason());
        CliRun table = cli(capacity());
        assertTrue(table.out().contains("(keeping the N+1 reserve)."), table.out());
    }

    @Test
    void aDrainedHostCountsNoneAndNothingFittingExitsSix() {
        assertEquals(0, cli("host", "drain", "hv1").code());
        try {
            CliRun run = cli(capacity("--no-n-plus-one"));
            assertEquals(0, run.code(), run.err());
            assertTrue(run.out().contains("hv1   0     state           host is draining, only ready hosts take new VMs"),
                    run.out());
            assertTrue(run.out().contains("Total: 83 more VMs"), run.out());
            assertTrue(run.out().contains("Stops first: memory on 2 hosts, state on 1 host."), run.out());
        } finally {
            assertEquals(0, cli("host", "undrain", "hv1").code());
        }
        CliRun none = cli("capacity", "--storage", "ssd", "--size", "20G", "--lan", "10", "--memory", "200G");
        assertEquals(6, none.code(), none.out() + none.err());
        assertTrue(none.out().contains("Total: 0 more VMs"), none.out());
        assertTrue(none.out().contains("hv3   0     memory          needs 200.0 GiB: 1.5 GiB promised + 200.0 GiB > 115.2 GiB"),
                none.out());
    }

    @Test
    void placeExplainNamesTheHostTheReserveWouldLeaveWithoutRoom() {
        // 100 GiB fits only on hv3 (113.7 GiB free); should hv3 then be lost, hv1 and hv2 have 12.9 + 54.1 GiB.
        CliRun run = cli("place", "--explain", "--storage", "ssd", "--size", "20G", "--lan", "10", "--memory", "100G");
        assertEquals(6, run.code(), run.out() + run.err());
        String hv3 = Arrays.stream(run.out().split("\n")).filter(l -> l.startsWith("hv3 ")).findFirst().orElseThrow();
        assertTrue(hv3.contains(" no: n-plus-one ") && hv3.endsWith("after this, hv3's 1 Ceph-backed VM (100.0 GiB,"
                + " 2 vCPUs) could not all restart elsewhere: 67.0 GiB of memory free on the other ready hosts (100.0 GiB"
                + " needed)"), run.out());
        assertTrue(run.out().contains("No host fits."), run.out());
    }

    @Test
    void badFlagsExitTwoNamingTheFlag() {
        CliRun run = cli("capacity", "--storage", "nvme", "--size", "20G", "--lan", "10");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--storage: \"nvme\" is not accepted"), run.err());
    }

    @Test
    void helpTeachesWithExamplesAndExitCodes() {
        CliRun run = cli("capacity", "--help");
        assertEquals(0, run.code());
        assertTrue(run.out().contains("virtfleet capacity --storage ssd --size 20G --lan 10 --memory 4G --n-plus-one"),
                run.out());
        assertTrue(run.out().contains("6   not one VM fits"), run.out());
        assertTrue(run.out().contains("--[no-]n-plus-one"), run.out());
    }
}
