package io.virtfleet.controller.embedded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The README's main command, as `deploy/embedded-fleet --once` runs it. */
class EmbeddedMainTest {
    @Test
    void showsAFleetOfThreeReadyHostsAndStops() {
        assertPrerequisites();
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = new CommandLine(new EmbeddedMain()).execute("--once", "--port", "0");
        } finally {
            System.setOut(saved);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, out);
        assertTrue(out.contains("with 3 agents"), out);
        for (String host : new String[] {"hv1", "hv2", "hv3"}) {
            assertTrue(out.lines().anyMatch(l -> l.startsWith(host + " ") && l.contains(" ready ")), out);
        }
        assertTrue(out.contains("Hypervisor:    TEST"), out);
        // The main job, end to end: placed with a reason, disk, LAN, definition, start; then listed.
        for (String step : new String[] {"] placed    placed on hv", "] disk      created ", "] network   created vxlan10",
            "] defined   defined demo", "] started   started demo", "] done      demo is running on hv"}) {
            assertTrue(out.contains(step), step + " in:\n" + out);
        }
        assertTrue(out.lines().anyMatch(l -> l.startsWith("demo ") && l.contains(" ready ")), out);
        assertTrue(out.contains("Chosen: hv"), "where the next VM would go, and why: " + out);
        // A Ceph-backed VM is replicated: each host's result as it answered, the VM's replicas, and
        // every host in step with the definitions repository.
        assertFalse(out.contains("(Ceph did not start"), out);
        assertEquals(3, out.lines().filter(l -> l.matches("\\[ *[0-9.]+s\\] replicated hv[123] .*")).count(), out);
        // A host whose heartbeat already named the new commit has synced by itself when the call arrives.
        assertEquals(3, out.lines().filter(l -> l.matches(".* replicated hv[123] (defined web|in step) at .*")).count(), out);
        assertTrue(out.contains("web is running on hv") && out.contains("defined on 2 of 2 other hosts"), out);
        assertTrue(out.lines().anyMatch(l -> l.matches("Replicas: +defined on hv[123], hv[123] \\(autostart off.*")), out);
        assertTrue(out.contains("3 of 3 hosts in step"), out);
        assertTrue(out.contains("No domain differs from the repository."), out);
    }

    /**
     * Without root or Ceph the demo shows less (the plan only, raw disks only); its test never does: it fails,
     * naming what is missing and how to install it.
     */
    private static void assertPrerequisites() {
        assertTrue(SimulatedNetwork.available(), "the embedded fleet's test needs root and iproute2 (a network"
                + " namespace per simulated host for LAN 10): run deploy/dev/install-deps.sh as root");
        assertTrue(CephCluster.installed(), "the embedded fleet's test needs Ceph (" + CephCluster.PACKAGES
                + ") for its replicated VM: run deploy/dev/install-deps.sh as root");
    }

    @Test
    void refusesAnAbsurdNumberOfAgents() {
        assertEquals(2, new CommandLine(new EmbeddedMain()).execute("--agents", "0", "--once"));
    }
}
