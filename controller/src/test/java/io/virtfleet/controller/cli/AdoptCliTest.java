package io.virtfleet.controller.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.CliFleet;
import io.virtfleet.controller.testkit.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code virtfleet adopt} against an embedded fleet whose test-driver hosts carry domains virtfleet did not create
 * (none of them with a disk, so none can be adopted): each is listed refused with its reason, nothing is recorded, and
 * bad input is refused by name before anything is read.
 */
class AdoptCliTest {
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
    void everyDomainWithoutADiskIsListedRefusedWithItsReasonAndNothingIsRecorded() {
        CliRun run = cli("adopt");
        assertEquals(ExitCode.SOME_REFUSED, run.code(), run.out() + run.err());
        for (TestDriverNode node : fleet.nodes()) {
            for (TestDriverNode.Domain d : node.domains()) {
                assertTrue(run.out().lines().anyMatch(l -> l.startsWith(d.name() + " ") && l.contains(" refused ")),
                        d.name() + " in\n" + run.out());
            }
        }
        assertTrue(run.out().contains("0 disks: virtfleet's VMs have exactly one"), run.out());
        assertFalse(run.out().contains(" adopted "), run.out());
        CliRun vms = cli("vm", "list", "-o", "json");
        assertEquals(0, vms.code(), vms.err());
        assertTrue(vms.out().replaceAll("\\s", "").contains("\"vms\":[]"), "no VM recorded: " + vms.out());
    }

    @Test
    void theRunbooksRepositoryNamesTheCandidatesAndOneDefinedNowhereIsSaidSo() throws Exception {
        Path repo = Files.createDirectories(work.resolve("common/etc/libvirt/qemu"));
        Files.writeString(repo.resolve("ghost.xml"), "<domain type='kvm'><name>ghost</name></domain>");
        CliRun run = cli("adopt", "--dry-run", "--from-repo", work.resolve("common").toString());
        assertEquals(ExitCode.SOME_REFUSED, run.code(), run.out() + run.err());
        assertTrue(run.out().contains("Dry run: nothing was changed."), run.out());
        assertTrue(run.out().contains("in the runbook's repository, but defined on no host"), run.out());
        for (TestDriverNode.Domain d : fleet.nodes().get(0).domains()) {
            assertFalse(run.out().lines().anyMatch(l -> l.startsWith(d.name() + " ")), "ghost only: " + run.out());
        }

        CliRun empty = cli("adopt", "--from-repo", work.resolve("nothing-here").toString());
        assertEquals(ExitCode.USAGE, empty.code(), empty.out() + empty.err());
    }

    private static void git(Path dir, String... args) throws Exception {
        java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("git", "-C", dir.toString(),
                "-c", "user.name=ops", "-c", "user.email=ops@example.com"));
        argv.addAll(java.util.List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", argv) + ": " + out);
    }

    @Test
    void aClonesRunbookBranchIsReadAndFilesThatCannotBeCandidatesAreListedRefused() throws Exception {
        // A runbook clone an agent took over: the runbook's history is branch runbook, the work tree virtfleet's.
        Path clone = Files.createDirectories(work.resolve("srv-common"));
        Path qemu = Files.createDirectories(clone.resolve("etc/libvirt/qemu"));
        git(clone, "init", "--quiet", "-b", "main");
        Files.writeString(qemu.resolve("ghost.xml"), "<domain type='kvm'><name>ghost</name></domain>");
        Files.writeString(qemu.resolve("Web_1.xml"), "<domain type='kvm'><name>Web_1</name></domain>");
        Files.writeString(qemu.resolve("huge.xml"), "<domain type='kvm'><name>huge</name><description>"
                + "x".repeat((1 << 20) + 1) + "</description></domain>");
        git(clone, "add", "-A");
        git(clone, "commit", "--quiet", "-m", "runbook: ghost, Web_1, huge");
        git(clone, "branch", "runbook");
        git(clone, "rm", "--quiet", "-r", "etc");
        Files.createDirectories(qemu);
        Files.writeString(qemu.resolve("managed.xml"), "<domain type='kvm'><name>managed</name></domain>");
        git(clone, "add", "-A");
        git(clone, "commit", "--quiet", "-m", "the controller's definitions");

        CliRun run = cli("adopt", "--dry-run", "--from-repo", clone.toString());
        assertEquals(ExitCode.SOME_REFUSED, run.code(), run.out() + run.err());
        assertTrue(run.err().contains("reading its branch runbook"), run.err());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("ghost ") && l.contains("defined on no host")), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("Web_1 ") && l.contains("refused")
                && l.contains("no DNS label")), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("huge ") && l.contains("more than a definition's")),
                run.out());
        assertFalse(run.out().contains("managed"), "the work tree is virtfleet's, not the runbook's: " + run.out());

        // The same files in a plain directory (no git): the unreadable ones are listed refused all the same.
        Path plain = Files.createDirectories(work.resolve("plain/etc/libvirt/qemu"));
        Files.writeString(plain.resolve("Web_1.xml"), "<domain type='kvm'><name>Web_1</name></domain>");
        CliRun only = cli("adopt", "--dry-run", "--from-repo", work.resolve("plain").toString());
        assertEquals(ExitCode.SOME_REFUSED, only.code(), only.out() + only.err());
        assertTrue(only.out().lines().anyMatch(l -> l.startsWith("Web_1 ") && l.contains("no DNS label")), only.out());
    }

    @Test
    void badInputIsRefusedByNameBeforeAnythingIsRead() {
        CliRun host = cli("adopt", "--host", "hv9");
        assertEquals(ExitCode.NOT_FOUND, host.code(), host.err());
        assertTrue(host.err().contains("host hv9 is not registered"), host.err());
        CliRun badHost = cli("adopt", "--host", "$(reboot)");
        assertEquals(ExitCode.USAGE, badHost.code(), badHost.err());
        assertTrue(badHost.err().contains("host"), badHost.err());
        CliRun privateIp = cli("adopt", "--failover-ip", "www=10.0.0.7");
        assertEquals(ExitCode.USAGE, privateIp.code(), privateIp.err());
        assertTrue(privateIp.err().contains("failover_ips[www]"), privateIp.err());
    }

    @Test
    void helpTeachesWithExamplesAndExitCodes() {
        CliRun run = cli("adopt", "--help");
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("Examples:") && run.out().contains("virtfleet adopt --dry-run"), run.out());
        assertTrue(run.out().contains("some domains were refused (each listed with why)"), run.out());
    }
}
