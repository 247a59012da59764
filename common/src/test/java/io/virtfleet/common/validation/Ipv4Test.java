package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Ipv4Test {
    @ParameterizedTest
    @ValueSource(strings = {"203.0.113.7", "1.1.1.1", "223.255.255.255", "51.38.0.0", "51.38.0.254"})
    void failoverAddresses(String text) {
        assertEquals(text, Ipv4.failoverAddress("address", text).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "01.2.3.4", "1.2.3.04", "1.2.3.4 ",
        "1..3.4", "1.2.3.", ".1.2.3", "a.b.c.d", "1.2.3.4/32", "::1", "0x7f.0.0.1", "1.2.3.4\u0000", "١.٢.٣.٤",
        "1.2.3.-4", "99999.1.1.1"})
    void malformedAddressesAreRefused(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Ipv4.parse("spec.network.failover.address", text));
        assertEquals("spec.network.failover.address", e.field());
        assertTrue(e.getMessage().contains("an IPv4 address a.b.c.d of numbers 0-255 without leading zeros"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "224.0.0.1", "239.255.255.250",
        "240.0.0.1", "255.255.255.255", "10.0.0.1", "172.16.0.7", "192.168.1.254", "100.64.0.1", "169.254.1.1"})
    void addressesThatCannotBeAFailoverIpAreRefused(String text) {
        Ipv4.parse("address", text); // well-formed ...
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Ipv4.failoverAddress("address", text));
        assertTrue(e.getMessage().contains("expected a public unicast IPv4 address"), e.getMessage()); // ... but not usable
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.0.0.2", "172.16.5.4", "192.168.1.254", "51.38.0.1"})
    void privateAndPublicHostAddressesAreUnicast(String text) {
        assertEquals(text, Ipv4.unicastAddress("peer_addresses", text).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0", "127.0.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255"})
    void addressesThatReachNoSingleHostAreRefusedAsPeers(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Ipv4.unicastAddress("peer_addresses", text));
        assertEquals("peer_addresses", e.field());
        assertTrue(e.getMessage().contains("expected a unicast IPv4 address of a host"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"203.0.113.7", "51.38.12.4", "1.1.1.1", "172.15.0.1", "172.32.0.1", "192.167.1.1",
        "100.63.0.1", "100.128.0.1", "169.253.0.1", "223.255.255.253"})
    void publicAddresses(String text) {
        assertEquals(text, Ipv4.publicAddress("public-address", text).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.0.0.5", "172.16.0.1", "172.31.255.254", "192.168.1.2", "100.64.0.1", "100.127.255.254",
        "169.254.1.1", "127.0.0.1", "0.0.0.0", "224.0.0.1", "239.1.1.1", "240.0.0.1", "255.255.255.255"})
    void privateLoopbackLinkLocalAndMulticastAddressesAreNotPublic(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Ipv4.publicAddress("public-address", text));
        assertEquals("public-address", e.field());
        assertTrue(e.getMessage().contains("\"" + text + "\""), e.getMessage());
        assertTrue(e.getMessage().contains("expected a public IPv4 address reachable from the Internet"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"203.0.113.254", "51.38.12.255"})
    void aServersPublicAddressIsNeitherItsBlocksGatewayNorItsBroadcast(String text) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Ipv4.publicAddress("public-address", text));
        assertEquals("public-address", e.field());
        assertTrue(e.getMessage().contains("not .254 (OVH's gateway of the block) or .255"), e.getMessage());
    }

    @Test
    void classifies() {
        assertTrue(Ipv4.parse("a", "169.254.0.1").isLinkLocal());
        assertTrue(Ipv4.parse("a", "127.0.0.1").isLoopback());
        assertTrue(Ipv4.parse("a", "224.0.0.251").isMulticast());
        assertTrue(Ipv4.parse("a", "255.255.255.255").isBroadcast());
        assertEquals(Ipv4.parse("a", "10.0.0.1"), Ipv4.parse("b", "10.0.0.1"));
        assertThrows(InvalidInputException.class, () -> Ipv4.parse("a", null));
    }
}
