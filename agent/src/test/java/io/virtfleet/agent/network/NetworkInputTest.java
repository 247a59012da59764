package io.virtfleet.agent.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whatever the caller sends, a request the agent does not accept is refused naming the field, before a
 * single command runs on the host.
 */
class NetworkInputTest {
    static Stream<Arguments> hostileRequests() {
        return Stream.of(
                Arguments.of("LAN 0", lan(0), "network.lan"),
                Arguments.of("LAN 2^24", lan(16_777_216), "network.lan"),
                Arguments.of("LAN -1 (uint32 max)", lan(-1), "network.lan"),
                Arguments.of("no attachment", EnsureNetworkRequest.getDefaultInstance(), "network"),
                Arguments.of("peer with a command", lan(10, "1.2.3.4; reboot"), "peer_addresses[0]"),
                Arguments.of("peer as a path", lan(10, "10.0.0.2", "../x"), "peer_addresses[1]"),
                Arguments.of("peer of 10,000 characters", lan(10, "1".repeat(10_000)), "peer_addresses[0]"),
                Arguments.of("peer with an option", lan(10, "-n"), "peer_addresses[0]"),
                Arguments.of("loopback peer", lan(10, "127.0.0.1"), "peer_addresses[0]"),
                Arguments.of("multicast peer", lan(10, "239.1.1.1"), "peer_addresses[0]"),
                Arguments.of("empty peer", lan(10, ""), "peer_addresses[0]"),
                Arguments.of("too many peers", lan(10, Collections.nCopies(Networks.MAX_PEERS + 1, "10.0.0.2")
                        .toArray(String[]::new)), "peer_addresses"),
                Arguments.of("failover with a broadcast MAC", failover("203.0.113.7", "ff:ff:ff:ff:ff:ff"),
                        "network.failover.mac"),
                Arguments.of("failover with a private address", failover("127.0.0.1", "02:00:00:ab:cd:ef"),
                        "network.failover.address"),
                Arguments.of("failover with hostile peers", failover("203.0.113.7", "02:00:00:ab:cd:ef").toBuilder()
                        .addPeerAddresses("$(reboot)").build(), "peer_addresses[0]"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileRequests")
    void refusedNamingTheFieldBeforeAnyCommandRuns(String what, EnsureNetworkRequest request, String field) {
        List<String> ran = new ArrayList<>();
        // Acts in a namespace nobody made: any command that did run would fail differently.
        Networks networks = new Networks(NetworkSettings.ofHost("eth1", null, 4789, "br0").inNamespace("vft-never-made"),
                new IpRoute("vft-never-made", (Command command) -> {
                    ran.add(command.toString());
                    return command.run();
                }));

        InvalidInputException e = assertThrows(InvalidInputException.class, () -> networks.ensure(request)); // on the caller's thread

        assertEquals(field, e.field());
        assertTrue(e.getMessage().contains("is not accepted; expected"), e.getMessage());
        assertTrue(e.getMessage().length() < 400, "the value is shown shortened: " + e.getMessage().length());
        assertEquals(List.of(), ran, "commands run");
    }

    private static EnsureNetworkRequest lan(int lan, String... peers) {
        return EnsureNetworkRequest.newBuilder().setNetwork(NetworkSpec.newBuilder().setLan(lan))
                .addAllPeerAddresses(List.of(peers)).build();
    }

    private static EnsureNetworkRequest failover(String address, String mac) {
        return EnsureNetworkRequest.newBuilder().setNetwork(NetworkSpec.newBuilder()
                .setFailover(FailoverIp.newBuilder().setAddress(address).setMac(mac))).build();
    }
}
