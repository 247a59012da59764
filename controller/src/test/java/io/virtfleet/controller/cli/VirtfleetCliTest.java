package io.virtfleet.controller.cli;

import io.virtfleet.controller.testkit.CliFleet;
import io.virtfleet.controller.testkit.CliRun;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.JsonFormat;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.proto.v1.ListHostsResponse;
import io.virtfleet.proto.v1.ListProfilesResponse;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The operator's command line against a running embedded fleet: output, errors and exit codes. */
class VirtfleetCliTest {
    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;


    @BeforeAll
    static void startFleet() throws Exception {
        fleet = CliFleet.start(EmbeddedFleet.builder(work));
    }

    @AfterAll
    static void stopFleet() {
        fleet.close();
    }

    private static CliRun cli(String... args) {
        return CliFleet.cli(fleet, args);
    }

    @Test
    void hostsPrintsOneRowPerHostUnderTheHeader() {
        CliRun run = cli("hosts");
        assertEquals(0, run.code(), run.err());
        List<String> lines = Arrays.asList(run.out().split("\n"));
        assertTrue(lines.get(0).matches("HOST +STATE +CORES +LOAD 1/5/15 +CPU% +MEMORY +VMS +SEEN"), lines.get(0));
        assertEquals(4, lines.size(), run.out());
        for (String host : List.of("hv1", "hv2", "hv3")) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(host + " ") && l.contains(" ready ")), run.out());
        }
        // hv1's node has 3 domains, 2 of them running (see EmbeddedFleet.defaultNodes)
        String hv1 = lines.stream().filter(l -> l.startsWith("hv1 ")).findFirst().orElseThrow();
        assertTrue(hv1.contains(" 2/3 "), hv1);
    }

    @Test
    void jsonOutputIsTheWireContract() throws Exception {
        CliRun run = cli("hosts", "-o", "json");
        assertEquals(0, run.code(), run.err());
        ListHostsResponse.Builder parsed = ListHostsResponse.newBuilder();
        JsonFormat.parser().merge(run.out(), parsed);
        assertEquals(3, parsed.getHostsCount());
        assertTrue(run.out().contains("\"memory_total_bytes\""), "proto field names, snake_case");
    }

    @Test
    void hostShowListsTheDomains() {
        CliRun run = cli("host", "show", "hv2");
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("Host:          hv2"), run.out());
        assertTrue(run.out().contains("State:         ready"), run.out());
        assertTrue(run.out().contains("Migration TLS: no certificate; "), run.out()); // test-driver hosts have no address
        for (var d : fleet.nodes().get(1).domains()) {
            assertTrue(run.out().contains(d.name()), d.name() + " in\n" + run.out());
        }
    }

    @Test
    void unknownHostExitsFourListingTheKnownOnes() {
        CliRun run = cli("host", "show", "hv7");
        assertEquals(4, run.code());
        assertTrue(run.err().contains("no host named \"hv7\"; known hosts: hv1, hv2, hv3"), run.err());
    }

    @Test
    void malformedNameIsRefusedByTheControllerWithExitTwo() {
        CliRun run = cli("host", "show", "$(reboot)");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("name: \"$(reboot)\" is not accepted"), run.err());
    }

    @Test
    void unknownFlagPrintsUsageAndExitsTwo() {
        CliRun run = cli("hosts", "--sort-by-mood");
        assertEquals(2, run.code());
        assertTrue(run.err().contains("Unknown option: '--sort-by-mood'"), run.err());
        assertTrue(run.err().contains("Usage: virtfleet hosts"), run.err());
    }

    @Test
    void unreachableControllerExitsThreeAndSaysWhere() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // free once closed: nothing listens there
        }
        StringWriter err = new StringWriter();
        int code = VirtfleetCli.run(new PrintWriter(new StringWriter()), new PrintWriter(err),
                "--controller", "127.0.0.1:" + port, "--credentials", fleet.adminCredentials().toString(), "hosts");
        assertEquals(3, code);
        assertTrue(err.toString().contains("cannot reach the controller at 127.0.0.1:" + port), err.toString());
    }

    @Test
    void malformedControllerAddressExitsTwo() {
        StringWriter err = new StringWriter();
        int code = VirtfleetCli.run(new PrintWriter(new StringWriter()), new PrintWriter(err),
                "--controller", "nowhere", "hosts");
        assertEquals(2, code);
        assertTrue(err.toString().contains("--controller: \"nowhere\" is not accepted"), err.toString());
    }

    @Test
    void profilesListsTheControllersProfilesWithTheirDescriptions() {
        CliRun run = cli("profiles");
        assertEquals(0, run.code(), run.err());
        List<String> lines = Arrays.asList(run.out().split("\n"));
        assertTrue(lines.get(0).matches("PROFILE +DESCRIPTION"), lines.get(0));
        assertEquals(List.of("api", "api-test", "base", "ui", "ui-test"),
                lines.subList(1, 6).stream().map(l -> l.split(" ")[0]).toList(), run.out());
        assertTrue(lines.get(3).matches("base +Minimal hardened Debian: SSH by key only, .*"), lines.get(3));
        assertTrue(run.out().contains("In " + EmbeddedFleet.shippedProfiles() + " on the controller."), run.out());
    }

    @Test
    void profilesAsJsonIsTheWireContract() throws Exception {
        CliRun run = cli("profiles", "-o", "json");
        assertEquals(0, run.code(), run.err());
        ListProfilesResponse.Builder parsed = ListProfilesResponse.newBuilder();
        JsonFormat.parser().merge(run.out(), parsed);
        assertEquals(5, parsed.getProfilesCount());
        assertEquals("base", parsed.getProfiles(2).getName());
        assertTrue(run.out().contains("\"directory\""), run.out());
    }

    @Test
    void anUnknownProfileIsRefusedAtCreateListingTheKnownOnesAndExitsTwo() {
        CliRun run = cli("vm", "create", "web", "--storage", "raw", "--size", "10G", "--lan", "10", "--profile", "uii",
                "--dry-run");
        assertEquals(2, run.code(), run.out() + run.err());
        assertTrue(run.err().contains("spec.profile: \"uii\" is not accepted; expected one of the controller's profiles:"
                + " api, api-test, base, ui, ui-test"), run.err());
    }

    @Test
    void aFailoverIpIsPublicItsMacUnicastAndWithoutOvhsApiTheMacIsTheOperatorsToGive() {
        CliRun privateIp = cli("vm", "create", "www", "--storage", "raw", "--size", "10G", "--failover-ip", "10.0.0.7",
                "--failover-mac", "02:00:00:ab:cd:ef", "--dry-run");
        assertEquals(2, privateIp.code(), privateIp.out() + privateIp.err());
        assertTrue(privateIp.err().contains("--failover-ip: \"10.0.0.7\" is not accepted; expected a public unicast IPv4"),
                privateIp.err());
        CliRun multicast = cli("vm", "create", "www", "--storage", "raw", "--size", "10G", "--failover-ip", "198.51.100.7",
                "--failover-mac", "01:00:5e:00:00:01", "--dry-run");
        assertEquals(2, multicast.code(), multicast.out() + multicast.err());
        assertTrue(multicast.err().contains("--failover-mac: \"01:00:5e:00:00:01\" is not accepted; expected a unicast MAC"),
                multicast.err());
        // This fleet's controller has no OVH API (ovh-config): nothing can make the MAC.
        CliRun noMac = cli("vm", "create", "www", "--storage", "raw", "--size", "10G", "--failover-ip", "198.51.100.7",
                "--dry-run");
        assertEquals(2, noMac.code(), noMac.out() + noMac.err());
        assertTrue(noMac.err().contains("spec.network.failover.mac: \"\" is not accepted; expected the OVH virtual MAC of"
                + " 198.51.100.7 (--failover-mac): this controller has no OVH API (ovh-config) to find or make one"),
                noMac.err());
    }

    @Test
    void helpTeachesWithExamplesAndExitCodes() {
        CliRun run = cli("--help");
        assertEquals(0, run.code());
        assertTrue(run.out().contains("virtfleet host show hv2"), run.out());
        assertTrue(run.out().contains("the controller (or the VM's host) could not be reached"), run.out());
        assertTrue(run.out().contains("virtfleet vm create git --storage sata --size 20G --lan 10"), run.out());
    }
}
