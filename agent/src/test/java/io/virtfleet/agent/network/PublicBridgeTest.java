package io.virtfleet.agent.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StepResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A failover-IP VM needs the host's public bridge: checked in a simulated host, never created or changed. */
class PublicBridgeTest {
    private static final EnsureNetworkRequest FAILOVER = EnsureNetworkRequest.newBuilder()
            .setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder()
                    .setAddress("203.0.113.7").setMac("02:00:00:AB:CD:EF"))).build();

    private NetnsLab lab;
    private String host;
    private Networks networks;

    @BeforeEach
    void aHost() {
        lab = NetnsLab.create();
        host = lab.namespace("hv1");
        networks = new Networks(NetworkSettings.ofHost(null, null, 4789, "br0").inNamespace(host));
    }

    @AfterEach
    void removeNamespaces() {
        lab.close();
    }

    @Test
    void aBridgeThatIsUpServesFailoverVms() {
        lab.ip(host, "link", "add", "br0", "type", "bridge");
        lab.ip(host, "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1");
        lab.ip(host, "link", "set", "uplink0", "master", "br0");
        for (String up : new String[] {"uplink0", "uplink1", "br0"}) {
            lab.ip(host, "link", "set", up, "up");
        }
        Link before = lab.links(host).get("br0");

        StepResult result = Ensure.now(networks, FAILOVER);

        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, result.getOutcome());
        assertEquals("public bridge br0 exists and is up", result.getDetail());
        assertEquals(before, lab.links(host).get("br0"));
    }

    @Test
    void aMissingBridgeIsRefusedNamingItAndIsNotCreated() {
        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(networks, FAILOVER));

        assertEquals(NetworkException.Kind.PRECONDITION, e.kind());
        assertEquals("public bridge br0 (public-bridge in the agent's configuration) does not exist on this host;"
                + " failover-IP VMs attach to it. virtfleet never creates it, as it carries the host's uplink: set it up"
                + " in the host's network configuration, or set public-bridge to the bridge that does", e.getMessage());
        assertFalse(lab.links(host).containsKey("br0"));
    }

    @Test
    void aBridgeThatIsDownIsRefusedAndLeftDown() {
        lab.ip(host, "link", "add", "br0", "type", "bridge");

        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(networks, FAILOVER));

        assertEquals("public bridge br0 (public-bridge in the agent's configuration) is down: bring it up"
                + " (ip link set br0 up)", e.getMessage());
        assertFalse(lab.links(host).get("br0").adminUp());
    }

    @Test
    void anInterfaceThatIsNoBridgeIsRefused() {
        lab.ip(host, "link", "add", "br0", "type", "veth", "peer", "name", "br1");
        lab.ip(host, "link", "set", "br0", "up");

        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(networks, FAILOVER));

        assertTrue(e.getMessage().startsWith("public bridge br0 (public-bridge in the agent's configuration) is a veth"
                + " interface, not a bridge"), e.getMessage());
    }
}
