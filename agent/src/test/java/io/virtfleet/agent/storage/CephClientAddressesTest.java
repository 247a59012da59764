package io.virtfleet.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.agent.network.NetnsLab;
import io.virtfleet.common.process.Command;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The addresses worked out from ceph.conf are every global address of the interface toward the monitors, not only the
 * one the kernel picks now: a QEMU's Ceph session may have connected from a secondary IPv4 address or from an IPv6
 * address deprecated since (a temporary address replaced). Worked out by a JVM inside a network namespace the test
 * makes (Java sees the interfaces of its own namespace); needs root.
 */
class CephClientAddressesTest {
    @TempDir
    Path dir;

    /** Prints what the agent would report for the ceph.conf given, one address a line. */
    public static final class InNamespace {
        public static void main(String[] args) {
            CephSettings ceph = new CephSettings(Path.of(args[0]), "libvirt", Path.of(args[0] + ".keyring"), "ssd",
                    "sata", Duration.ofSeconds(5));
            new CephClientAddresses(ceph, Runnable::run).current().forEach(System.out::println);
        }
    }

    private List<String> reportedInside(String namespace, Path conf) {
        Command.Result r = Command.of("ip", "netns", "exec", namespace,
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                        InNamespace.class.getName(), conf.toString())
                .timeout(Duration.ofMinutes(2)).run();
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        return r.stdout().lines().toList();
    }

    @Test
    void everyGlobalAddressOfTheInterfaceTowardTheMonitorsAndNoneOfAnother() throws Exception {
        Path conf = dir.resolve("ceph.conf");
        Files.writeString(conf, "[global]\nmon_host = [v2:10.252.7.100:3300/0,v1:10.252.7.100:6789/0],[fd52:7::100]:6789\n");
        try (NetnsLab lab = NetnsLab.create()) {
            String hv1 = lab.namespace("hv1");
            String mon = lab.namespace("mon");
            String lan = lab.namespace("lan");
            lab.cable(hv1, "10.252.7.11/24", mon, "10.252.7.100/24", "pub0");
            lab.ip(hv1, "addr", "add", "10.252.7.12/24", "dev", "pub0"); // a secondary IPv4 address
            lab.ip(mon, "addr", "add", "fd52:7::100/64", "dev", "pub0", "nodad");
            lab.ip(hv1, "addr", "add", "fd52:7::11/64", "dev", "pub0", "nodad");
            // An old temporary address: deprecated, so the kernel no longer picks it, but a session may still use it.
            lab.ip(hv1, "addr", "add", "fd52:7::5eed/64", "dev", "pub0", "nodad", "preferred_lft", "0");
            // Another network of the host (its LAN uplink, say): no monitor is reached through it.
            lab.cable(hv1, "10.253.7.11/24", lan, "10.253.7.1/24", "lan0");

            // pub0's link-local fe80:: address and the namespace's loopback are left out.
            assertEquals(List.of("10.252.7.11", "10.252.7.12", "fd52:7:0:0:0:0:0:11", "fd52:7:0:0:0:0:0:5eed"),
                    reportedInside(hv1, conf));
        }
    }

    @Test
    void monitorsReachedOnlyThroughLoopbackGiveNothingToBlocklist() throws Exception {
        Path conf = dir.resolve("ceph.conf");
        Files.writeString(conf, "[global]\nmon_host = [v2:127.0.0.3:3300/0,v1:127.0.0.3:6789/0],[::1]:6789\n");
        assertEquals(List.of(), new CephClientAddresses(new CephSettings(conf, "libvirt", dir.resolve("keyring"), "ssd",
                "sata", Duration.ofSeconds(5)), Runnable::run).current());
    }
}
