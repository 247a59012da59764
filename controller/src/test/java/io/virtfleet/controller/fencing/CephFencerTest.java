package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The blocklist entries a fence asks for and how Ceph's listing of them is read (the real cluster: FenceInCephTest). */
class CephFencerTest {
    @Test
    void anEntryCoversEveryClientOfTheAddress() {
        assertEquals("10.0.0.5:0/0", CephFencer.entry("10.0.0.5"));
        assertEquals("[fd00:0:0:0:0:0:0:5]:0/0", CephFencer.entry("fd00::5"));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> CephFencer.entry("hv1.example"));
        assertTrue(e.getMessage().contains("an IP address literal"), e.getMessage());
        assertThrows(InvalidInputException.class, () -> CephFencer.entry("10.0.0.5:0/0"));
    }

    @Test
    void pacificsListingIsTheAddressListThenTheRangeList() {
        // As Ceph 16.2.15 answers 'osd blocklist ls --format json': two JSON arrays, IPv6 compressed.
        String out = "[{\"addr\":\"[fd00::9]:0/0\",\"until\":\"2026-12-07T06:08:56.877207+0000\"},"
                + "{\"addr\":\"10.9.9.9:0/0\",\"until\":\"2026-12-07T06:08:56.562571+0000\"}][]";
        assertEquals(Set.of("[fd00:0:0:0:0:0:0:9]:0/0", "10.9.9.9:0/0"), CephFencer.entries(out));
        assertEquals(Set.of(), CephFencer.entries("[][]"));
        assertThrows(CephFencer.FenceException.class, () -> CephFencer.entries("Error EACCES: access denied"));
    }
}
