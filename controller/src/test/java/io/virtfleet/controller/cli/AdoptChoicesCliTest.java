package io.virtfleet.controller.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.CliFleet;
import io.virtfleet.controller.testkit.CliRun;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code virtfleet adopt} choosing what to take, on an embedded fleet whose hv1 carries domains made by hand on raw
 * disks (libvirt's test driver, the images real files read by qemu-img): one running, one paused, one stopped. A
 * paused one is refused, each adoptable one says whether its agent will start it with the host, names that are no
 * candidate are refused by name before anything changes, and named VMs are the only ones taken.
 */
class AdoptChoicesCliTest {
    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;

    @BeforeAll
    static void startFleet() throws Exception {
        Path images = Files.createDirectories(work.toAbsolutePath().normalize().resolve("agents/hv1/images"));
        for (String vm : List.of("web", "frozen", "idle")) {
            try (RandomAccessFile f = new RandomAccessFile(images.resolve(vm + ".img").toFile(), "rw")) {
                f.setLength(1L << 30); // a sparse raw image of 1 GiB
            }
        }
        TestDriverNode hv1 = new TestDriverNode("hv1", 8, 16 * 1024)
                .handMadeDomain("web", 2, 1024, true, false, "52:54:00:0a:00:01", "vxbr10", images.resolve("web.img").toString())
                .handMadeDomain("frozen", 1, 512, true, true, "52:54:00:0a:00:02", "vxbr10", images.resolve("frozen.img").toString())
                .handMadeDomain("idle", 1, 512, false, false, "52:54:00:0b:00:03", "vxbr11", images.resolve("idle.img").toString());
        fleet = CliFleet.start(EmbeddedFleet.builder(work).nodes(List.of(hv1, new TestDriverNode("hv2", 8, 16 * 1024))));
    }

    @AfterAll
    static void stopFleet() {
        fleet.close();
    }

    private static CliRun cli(String... args) {
        return CliFleet.cli(fleet, args);
    }

    @Test
    void aPausedDomainIsRefusedAndTheDryRunSaysWhatWouldBeRefusedAndWhoStartsWithItsHost() {
        CliRun run = cli("adopt", "--dry-run", "web", "frozen");
        assertEquals(ExitCode.SOME_REFUSED, run.code(), run.out() + run.err());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("frozen ") && l.contains("paused on hv1")
                && l.contains("virsh resume")), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("web ") && l.contains("would adopt")), run.out());
        assertTrue(run.out().contains("autostart yes (its agent starts it when hv1 boots)"), "web runs now: " + run.out());
        assertTrue(run.out().contains("the flood list of vxlan10 becomes virtfleet's (the registered hosts: hv1, hv2)")
                && run.out().contains("enroll every hypervisor of the LAN before adopting"), run.out());
        assertTrue(run.out().contains("1 would be refused; 1 adoptable."), run.out());
        assertFalse(run.out().lines().anyMatch(l -> l.startsWith("idle ")), "only the VMs named: " + run.out());
    }

    @Test
    void namesThatAreNoCandidateAreRefusedByNameBeforeAnythingChanges() {
        CliRun ghost = cli("adopt", "ghost");
        assertEquals(ExitCode.USAGE, ghost.code(), ghost.out() + ghost.err());
        assertTrue(ghost.err().contains("vms[0]") && ghost.err().contains("ghost") && ghost.err().contains("no candidate"),
                ghost.err());
        CliRun key = cli("adopt", "--failover-ip", "wwww=203.0.113.7");
        assertEquals(ExitCode.USAGE, key.code(), key.out() + key.err());
        assertTrue(key.err().contains("failover_ips key") && key.err().contains("wwww"), key.err());
        CliRun lan = cli("adopt", "--failover-ip", "web=203.0.113.7", "web");
        assertEquals(ExitCode.USAGE, lan.code(), lan.out() + lan.err());
        assertTrue(lan.err().contains("failover_ips[web]") && lan.err().contains("LAN 10"), lan.err());
        CliRun otherHome = cli("adopt", "--host", "hv2", "web");
        assertEquals(ExitCode.USAGE, otherHome.code(), otherHome.out() + otherHome.err());
        assertTrue(otherHome.err().contains("whose home is hv2"), otherHome.err());
        CliRun vms = cli("vm", "list", "-o", "json");
        assertFalse(vms.out().contains("\"web\""), "nothing recorded: " + vms.out());
    }

    @Test
    void aStoppedDomainNamedAloneIsAdoptedAloneAndItsAgentDoesNotStartItWithTheHost() throws Exception {
        CliRun run = cli("adopt", "--host", "hv1", "idle");
        assertEquals(ExitCode.OK, run.code(), run.out() + run.err());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("idle ") && l.contains(" adopted ")), run.out());
        assertTrue(run.out().contains("autostart no"), run.out());
        assertFalse(run.out().lines().anyMatch(l -> l.startsWith("web ") || l.startsWith("frozen ")), run.out());

        JsonObject ledger = JsonParser.parseString(Files.readString(work.resolve("agents/hv1/defined-domains.json")))
                .getAsJsonObject().getAsJsonObject("domains");
        assertTrue(ledger.has("idle") && !ledger.has("web"), ledger.toString());
        assertFalse(ledger.getAsJsonObject("idle").get("autostart").getAsBoolean(),
                "stopped, and libvirt did not start it at boot: " + ledger);
    }
}
