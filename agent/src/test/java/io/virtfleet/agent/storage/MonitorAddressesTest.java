package io.virtfleet.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.storage.MonitorAddresses.Monitor;
import io.virtfleet.common.validation.InvalidInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every form of mon_host Ceph accepts, and the local addresses worked out from it. */
class MonitorAddressesTest {
    @Test
    void aCommaSeparatedListOfAddresses() {
        assertEquals(List.of(new Monitor("10.0.0.1", 6789), new Monitor("10.0.0.2", 6789)),
                MonitorAddresses.parse("10.0.0.1,10.0.0.2"));
        assertEquals(List.of(new Monitor("10.0.0.1", 6789), new Monitor("10.0.0.2", 6789), new Monitor("10.0.0.3", 6789)),
                MonitorAddresses.parse("10.0.0.1, 10.0.0.2;10.0.0.3"));
    }

    @Test
    void addressesWithPorts() {
        assertEquals(List.of(new Monitor("1.2.3.4", 6789), new Monitor("1.2.3.5", 3300)),
                MonitorAddresses.parse("1.2.3.4:6789 1.2.3.5:3300"));
    }

    @Test
    void addressVectorsAsCephAdmConfWritesThem() {
        assertEquals(List.of(new Monitor("1.2.3.4", 3300), new Monitor("1.2.3.4", 6789),
                        new Monitor("1.2.3.5", 3300), new Monitor("1.2.3.5", 6789)),
                MonitorAddresses.parse("[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0],[v2:1.2.3.5:3300/0,v1:1.2.3.5:6789/0]"));
        assertEquals(List.of(new Monitor("1.2.3.4", 3300)), MonitorAddresses.parse("v2:1.2.3.4:3300/0"));
    }

    @Test
    void ipv6WithAndWithoutPort() {
        assertEquals(List.of(new Monitor("fd00::1", 6789), new Monitor("fd00::2", 3300), new Monitor("fd00::3", 6789)),
                MonitorAddresses.parse("fd00::1 [fd00::2]:3300 [v1:[fd00::3]:6789/0]"));
    }

    @Test
    void hostNames() {
        assertEquals(List.of(new Monitor("mon1.example", 6789), new Monitor("mon2", 3300)),
                MonitorAddresses.parse("mon1.example,mon2:3300"));
    }

    @Test
    void malformedEntriesAreNamed() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> MonitorAddresses.parse("10.0.0.1:99999"));
        assertTrue(e.getMessage().contains("mon_host") && e.getMessage().contains("10.0.0.1:99999"), e.getMessage());
        assertThrows(InvalidInputException.class, () -> MonitorAddresses.parse("[v2:1.2.3.4:3300/0"));
        assertThrows(InvalidInputException.class, () -> MonitorAddresses.parse(" , "));
        assertThrows(InvalidInputException.class, () -> MonitorAddresses.parse("mon$(reboot)"));
    }

    @Test
    void theConfsMonHostInAnySpellingTheMostSpecificSectionWinning(@TempDir Path dir) throws Exception {
        Path conf = dir.resolve("ceph.conf");
        Files.writeString(conf, """
                # written by hand
                [global]
                fsid = 0f1e
                mon host = 10.0.0.1, 10.0.0.2
                ; a comment
                [client.other]
                mon_host = 10.9.9.9
                """);
        assertEquals(List.of(new Monitor("10.0.0.1", 6789), new Monitor("10.0.0.2", 6789)),
                MonitorAddresses.fromConf(conf, "libvirt"));
        Files.writeString(conf, "[global]\nmon-host = 10.0.0.1\n[client.libvirt]\n\tmon_host = \"[v2:10.0.0.7:3300/0]\"\n");
        assertEquals(List.of(new Monitor("10.0.0.7", 3300)), MonitorAddresses.fromConf(conf, "libvirt"));
        Files.writeString(conf, "[global]\nfsid = 0f1e\n");
        assertThrows(InvalidInputException.class, () -> MonitorAddresses.fromConf(conf, "libvirt"));
    }

    @Test
    void theSourceAddressTowardEachMonitorDeduplicatedAndSorted() throws Exception {
        // Loopback monitors: toward any 127.x address the kernel sends from 127.0.0.1, toward ::1 from ::1.
        assertEquals(List.of("0:0:0:0:0:0:0:1", "127.0.0.1"), CephClientAddresses.sourceAddresses(List.of(
                new Monitor("127.0.0.2", 6789), new Monitor("::1", 3300), new Monitor("127.0.0.1", 6789))));
        assertEquals(List.of("127.0.0.1"), CephClientAddresses.sourceAddresses(List.of(new Monitor("localhost", 6789)))
                .stream().filter(a -> !a.contains(":")).toList());
    }

    @Test
    void givenAddressesWinAndAHostWithoutCephReportsNone(@TempDir Path dir) throws Exception {
        Executor inline = Runnable::run;
        Path conf = dir.resolve("ceph.conf");
        Files.writeString(conf, "[global]\nmon_host = [v2:127.0.0.3:3300/0,v1:127.0.0.3:6789/0]\n");
        CephSettings ceph = new CephSettings(conf, "libvirt", dir.resolve("keyring"), "ssd", "sata", java.time.Duration.ofSeconds(5));
        assertEquals(List.of(), new CephClientAddresses(ceph, inline).current(), "monitors on loopback only: no"
                + " address another machine could see (CephClientAddressesTest works out real ones)");
        assertEquals(List.of("10.0.1.5", "fd00:0:0:0:0:0:0:5"),
                new CephClientAddresses(ceph.withClientAddresses(List.of("fd00:0::5", "10.0.1.5")), inline).current());
        assertEquals(List.of(), new CephClientAddresses(null, inline).current());
    }

    @Test
    void givenAddressesMustBeLiterals(@TempDir Path dir) {
        CephSettings ceph = CephSettings.defaults();
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> ceph.withClientAddresses(List.of("ceph-client.example")));
        assertTrue(e.getMessage().startsWith("ceph-client-addresses: "), e.getMessage());
        assertEquals(List.of("fd00:0:0:0:0:0:0:5"), ceph.withClientAddresses(List.of("FD00:0:0::5")).clientAddresses());
    }
}
