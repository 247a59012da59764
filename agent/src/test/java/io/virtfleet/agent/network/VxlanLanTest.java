package io.virtfleet.agent.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StepResult;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * LANs between two simulated hypervisors: network namespaces joined by a cable (the underlay, 10.247.0.0/24),
 * each with its agent's network feature acting inside it, and VMs (namespaces of their own) plugged into the
 * LAN bridges. Real kernel VXLAN, bridges and FDB; real {@code ip} and {@code bridge}.
 */
class VxlanLanTest {
    private static final String HV1_ADDRESS = "10.247.0.1";
    private static final String HV2_ADDRESS = "10.247.0.2";
    /** A third hypervisor's address: FDB entries need no answer from it. */
    private static final String HV3_ADDRESS = "10.247.0.3";

    private NetnsLab lab;
    private String hv1;
    private String hv2;
    private Networks hv1Networks;
    private Networks hv2Networks;

    @BeforeEach
    void twoHostsOnOneUnderlay() {
        lab = NetnsLab.create();
        hv1 = lab.namespace("hv1");
        hv2 = lab.namespace("hv2");
        lab.cable(hv1, HV1_ADDRESS + "/24", hv2, HV2_ADDRESS + "/24", "ul0");
        hv1Networks = new Networks(settings().inNamespace(hv1));
        hv2Networks = new Networks(settings().inNamespace(hv2));
    }

    @AfterEach
    void removeNamespaces() {
        lab.close();
    }

    private static NetworkSettings settings() {
        return NetworkSettings.ofHost("ul0", null, NetworkSettings.IANA_VXLAN_PORT, "br0");
    }

    static EnsureNetworkRequest lan(int lan, String... peers) {
        return EnsureNetworkRequest.newBuilder().setNetwork(NetworkSpec.newBuilder().setLan(lan))
                .addAllPeerAddresses(List.of(peers)).build();
    }

    @Test
    void vmsOnLan10OnTwoHostsShareOneSegmentAndLan11IsAnother() {
        StepResult first = Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));
        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, first.getOutcome());
        assertEquals("created vxlan10 (VNI 10, dev ul0, local 10.247.0.1, port 4789) and bridge vxbr10; peers +10.247.0.2",
                first.getDetail());
        System.out.printf("first ensure of LAN 10 on hv1: %d ms: %s%n", first.getDurationMs(), first.getDetail());
        Ensure.now(hv2Networks, lan(10, HV1_ADDRESS));
        Ensure.now(hv1Networks, lan(11, HV2_ADDRESS));
        Ensure.now(hv2Networks, lan(11, HV1_ADDRESS));

        for (String host : List.of(hv1, hv2)) {
            Map<String, Link> links = lab.links(host);
            for (int n : new int[] {10, 11}) {
                Link vxlan = links.get("vxlan" + n);
                assertEquals(n, vxlan.vxlan().vni(), host);
                assertEquals(4789, vxlan.vxlan().port());
                assertEquals("ul0", vxlan.vxlan().device());
                assertEquals("vxbr" + n, vxlan.master());
                assertTrue(vxlan.adminUp());
                assertTrue(links.get("vxbr" + n).isBridge());
                assertTrue(links.get("vxbr" + n).adminUp());
            }
        }
        assertEquals(Set.of(HV2_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));

        // Same subnet on both LANs: only the LAN separates them.
        String vmA = lab.vm(hv1, "vxbr10", "172.31.10.1/24");
        String vmB = lab.vm(hv2, "vxbr10", "172.31.10.2/24");
        String vmC = lab.vm(hv1, "vxbr11", "172.31.10.3/24");
        String vmD = lab.vm(hv2, "vxbr11", "172.31.10.4/24");
        assertReaches(vmA, "172.31.10.2", true, "LAN 10: hv1's VM -> hv2's VM");
        assertReaches(vmB, "172.31.10.1", true, "LAN 10: hv2's VM -> hv1's VM");
        assertReaches(vmC, "172.31.10.4", true, "LAN 11: hv1's VM -> hv2's VM");
        assertReaches(vmA, "172.31.10.4", false, "LAN 10 VM on hv1 -> LAN 11 VM on hv2");
        assertReaches(vmD, "172.31.10.2", false, "LAN 11 VM on hv2 -> LAN 10 VM on hv2");
        assertReaches(vmA, "172.31.10.3", false, "LAN 10 VM on hv1 -> LAN 11 VM on hv1");
    }

    private void assertReaches(String vm, String address, boolean expected, String what) {
        long start = System.nanoTime();
        boolean answered = lab.ping(vm, address);
        System.out.printf("ping %-45s %s (%d ms)%n", what, answered ? "answered" : "no answer", (System.nanoTime() - start) / 1_000_000);
        assertEquals(expected, answered, what);
    }

    @Test
    void ensuringAgainFindsEverythingInPlaceAndChangesNothing() {
        Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));
        Map<String, Link> before = lab.links(hv1);

        StepResult again = Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));

        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, again.getOutcome());
        assertEquals("vxlan10 (VNI 10, dev ul0, local 10.247.0.1, port 4789) in bridge vxbr10, both up; peers 10.247.0.2",
                again.getDetail());
        System.out.printf("second ensure of LAN 10 on hv1: %d ms%n", again.getDurationMs());
        Map<String, Link> after = lab.links(hv1);
        assertEquals(before.get("vxlan10"), after.get("vxlan10"), "same interface (same index), same state");
        assertEquals(before.get("vxbr10"), after.get("vxbr10"));
        assertEquals(Set.of(HV2_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));
    }

    @Test
    void twoEnsuresArrivingTogetherRunOneAfterTheOther() {
        // As when the controller retries a call that is still running: the second finds the first's work done.
        CompletableFuture<StepResult> first = hv1Networks.ensure(lan(10, HV2_ADDRESS));
        CompletableFuture<StepResult> second = hv1Networks.ensure(lan(10, HV2_ADDRESS));

        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, first.join().getOutcome());
        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, second.join().getOutcome());
        assertEquals(Set.of(HV2_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));
    }

    @Test
    void aChangedPeerListAddsAndRemovesFloodEntriesAndNothingElse() {
        Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));
        // A VM's MAC pinned to a peer by hand (as learning would): not a flood entry, so not virtfleet's to remove.
        lab.bridge(hv1, "fdb", "append", "02:00:00:00:00:01", "dev", "vxlan10", "dst", HV2_ADDRESS);
        int index = lab.links(hv1).get("vxlan10").index();

        StepResult added = Ensure.now(hv1Networks, lan(10, HV2_ADDRESS, HV3_ADDRESS));
        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, added.getOutcome());
        assertEquals("peers +10.247.0.3", added.getDetail());
        assertEquals(Set.of(HV2_ADDRESS, HV3_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));

        StepResult removed = Ensure.now(hv1Networks, lan(10, HV3_ADDRESS));
        assertEquals("peers -10.247.0.2", removed.getDetail());
        assertEquals(Set.of(HV3_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));

        StepResult swapped = Ensure.now(hv1Networks, lan(10, HV1_ADDRESS, HV2_ADDRESS)); // its own address is skipped
        assertEquals("peers +10.247.0.2 -10.247.0.3", swapped.getDetail());
        assertEquals(Set.of(HV2_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));

        StepResult alone = Ensure.now(hv1Networks, lan(10));
        assertEquals("peers -10.247.0.2", alone.getDetail());
        assertEquals(Set.of(), lab.floodDestinations(hv1, "vxlan10"));
        assertTrue(lab.bridge(hv1, "fdb", "show", "dev", "vxlan10").stdout().contains("02:00:00:00:00:01 dst 10.247.0.2"),
                "the hand-made entry is still there");
        assertEquals(index, lab.links(hv1).get("vxlan10").index(), "the interface was never rebuilt");
    }

    @Test
    void anExistingVxlan10WithAnotherVniIsRefusedAndLeftAsItIs() {
        lab.ip(hv1, "link", "add", "vxlan10", "type", "vxlan", "id", "11", "dstport", "4789", "dev", "ul0", "local", HV1_ADDRESS);
        Link before = lab.links(hv1).get("vxlan10");

        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(hv1Networks, lan(10, HV2_ADDRESS)));

        assertEquals(NetworkException.Kind.PRECONDITION, e.kind());
        assertEquals("LAN 10: vxlan10 exists with VNI 11, dev ul0, local 10.247.0.1, port 4789 but LAN 10 needs"
                + " VNI 10, dev ul0, local 10.247.0.1, port 4789; virtfleet does not rebuild it, as VMs may be using it:"
                + " once none does, delete it (ip link del vxlan10), or correct vxlan-device, vxlan-local-address or"
                + " vxlan-port in the agent's configuration", e.getMessage());
        assertEquals(before, lab.links(hv1).get("vxlan10"), "untouched");
        assertNull(lab.links(hv1).get("vxbr10"), "nothing created next to it");
    }

    @Test
    void anExistingVxlan10OnAnotherPortOrDeviceIsRefused() {
        lab.ip(hv1, "link", "add", "vxlan10", "type", "vxlan", "id", "10", "dstport", "8472", "dev", "ul0", "local", HV1_ADDRESS);
        NetworkException port = assertThrows(NetworkException.class, () -> Ensure.now(hv1Networks, lan(10)));
        assertTrue(port.getMessage().contains("vxlan10 exists with VNI 10, dev ul0, local 10.247.0.1, port 8472 but LAN 10"
                + " needs VNI 10, dev ul0, local 10.247.0.1, port 4789"), port.getMessage());

        lab.ip(hv1, "link", "del", "vxlan10");
        lab.ip(hv1, "link", "add", "vxlan10", "type", "vxlan", "id", "10", "dstport", "4789", "local", HV1_ADDRESS);
        NetworkException device = assertThrows(NetworkException.class, () -> Ensure.now(hv1Networks, lan(10)));
        assertTrue(device.getMessage().contains("exists with VNI 10, dev (none), local 10.247.0.1, port 4789"),
                device.getMessage());
    }

    @Test
    void interfacesInTheWayAreRefusedNamingThem() {
        lab.ip(hv1, "link", "add", "vxbr10", "type", "veth", "peer", "name", "other0");
        NetworkException notABridge = assertThrows(NetworkException.class, () -> Ensure.now(hv1Networks, lan(10)));
        assertTrue(notABridge.getMessage().startsWith("LAN 10: vxbr10 exists but is a veth interface, not a bridge"),
                notABridge.getMessage());

        lab.ip(hv1, "link", "add", "vx-hand", "type", "vxlan", "id", "12", "dstport", "4789", "dev", "ul0");
        NetworkException vniTaken = assertThrows(NetworkException.class, () -> Ensure.now(hv1Networks, lan(12)));
        assertTrue(vniTaken.getMessage().startsWith("LAN 12: VNI 12 on port 4789 is already used by interface vx-hand"),
                vniTaken.getMessage());

        lab.ip(hv1, "link", "add", "br-other", "type", "bridge");
        lab.ip(hv1, "link", "add", "vxlan13", "type", "vxlan", "id", "13", "dstport", "4789", "dev", "ul0", "local", HV1_ADDRESS);
        lab.ip(hv1, "link", "set", "vxlan13", "master", "br-other");
        NetworkException otherBridge = assertThrows(NetworkException.class, () -> Ensure.now(hv1Networks, lan(13)));
        assertTrue(otherBridge.getMessage().startsWith("LAN 13: vxlan13 is a port of bridge br-other, not of vxbr13"),
                otherBridge.getMessage());
        assertEquals("br-other", lab.links(hv1).get("vxlan13").master(), "left where it was");
    }

    @Test
    void aVxlanFoundDownOrDetachedIsRepaired() {
        Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));
        lab.ip(hv1, "link", "set", "vxlan10", "nomaster");
        lab.ip(hv1, "link", "set", "vxlan10", "down");
        lab.ip(hv1, "link", "set", "vxbr10", "down");

        StepResult repaired = Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));

        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, repaired.getOutcome());
        assertEquals("attached vxlan10 to vxbr10; set vxlan10 up; set vxbr10 up", repaired.getDetail());
        Link vxlan = lab.links(hv1).get("vxlan10");
        assertEquals("vxbr10", vxlan.master());
        assertTrue(vxlan.adminUp());
    }

    @Test
    void aHostWithoutVxlanDeviceRefusesLansNamingTheOptionToSet() {
        Networks unconfigured = new Networks(NetworkSettings.ofHost(null, null, 4789, "br0").inNamespace(hv1));
        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(unconfigured, lan(10, HV2_ADDRESS)));
        assertEquals(NetworkException.Kind.PRECONDITION, e.kind());
        assertEquals("LAN 10: this host has no vxlan-device: set vxlan-device in the agent's configuration to the"
                + " interface that connects the hypervisors (e.g. eth1), then restart the agent", e.getMessage());
        assertEquals("", unconfigured.vxlanAddress(), "nothing to report");
        Networks addressOnly = new Networks(NetworkSettings.ofHost(null,
                io.virtfleet.common.validation.Ipv4.parse("address", HV1_ADDRESS), 4789, "br0").inNamespace(hv1));
        assertEquals("", addressOnly.vxlanAddress(), "a local address without a device carries no LAN: nothing to report");

        Networks missingDevice = new Networks(NetworkSettings.ofHost("eth9", null, 4789, "br0").inNamespace(hv1));
        assertTrue(assertThrows(NetworkException.class, () -> Ensure.now(missingDevice, lan(10))).getMessage()
                .startsWith("LAN 10: vxlan-device eth9 does not exist on this host"));

        lab.ip(hv1, "link", "add", "bare0", "type", "veth", "peer", "name", "bare1");
        Networks noAddress = new Networks(NetworkSettings.ofHost("bare0", null, 4789, "br0").inNamespace(hv1));
        assertEquals("LAN 10: vxlan-device bare0 has no IPv4 address: give it one, or set vxlan-local-address",
                assertThrows(NetworkException.class, () -> Ensure.now(noAddress, lan(10))).getMessage());
        assertFalse(lab.links(hv1).containsKey("vxlan10"));
        assertFalse(lab.links(hv1).containsKey("vxbr10"));
    }

    @Test
    void theUnderlayAddressIsTheDevicesOrTheConfiguredOne() {
        assertEquals(HV1_ADDRESS, hv1Networks.vxlanAddress());
        lab.ip(hv1, "addr", "add", "10.247.1.1/24", "dev", "ul0");
        Networks configured = new Networks(NetworkSettings.ofHost("ul0",
                io.virtfleet.common.validation.Ipv4.parse("address", "10.247.1.1"), 4789, "br0").inNamespace(hv1));
        assertEquals("10.247.1.1", configured.vxlanAddress());
        assertTrue(Ensure.now(configured, lan(10)).getDetail().contains("local 10.247.1.1"));
    }

    @Test
    void aStepFailingHalfWayUndoesWhatThatEnsureHadDone() {
        Networks failingOnPeers = new Networks(settings().inNamespace(hv1), new IpRoute(hv1, command ->
                command.argv().contains("append") ? refusal(command) : command.run()));

        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(failingOnPeers, lan(10, HV2_ADDRESS)));

        assertEquals(NetworkException.Kind.PRECONDITION, e.kind());
        assertEquals("LAN 10: 'bridge -n " + hv1 + " fdb append 00:00:00:00:00:00 dev vxlan10 dst 10.247.0.2' failed:"
                + " RTNETLINK answers: No buffer space available; undone: created vxlan10, created vxbr10", e.getMessage());
        assertFalse(lab.links(hv1).containsKey("vxlan10"), "removed again");
        assertFalse(lab.links(hv1).containsKey("vxbr10"), "removed again");
    }

    @Test
    void aPeerChangeFailingHalfWayPutsThePreviousPeersBack() {
        Ensure.now(hv1Networks, lan(10, HV2_ADDRESS));
        Networks failingOnRemoval = new Networks(settings().inNamespace(hv1), new IpRoute(hv1, command ->
                command.argv().contains("del") && command.argv().contains(HV2_ADDRESS) ? refusal(command) : command.run()));

        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(failingOnRemoval, lan(10, HV3_ADDRESS)));

        assertTrue(e.getMessage().endsWith("; undone: peer +10.247.0.3"), e.getMessage());
        assertEquals(Set.of(HV2_ADDRESS), lab.floodDestinations(hv1, "vxlan10"));
    }

    @Test
    void whatCannotBeUndoneIsNamedForAnOperator() {
        Networks failingAlways = new Networks(settings().inNamespace(hv1), new IpRoute(hv1, command ->
                command.argv().contains("append") || command.argv().contains("del") ? refusal(command) : command.run()));

        NetworkException e = assertThrows(NetworkException.class, () -> Ensure.now(failingAlways, lan(10, HV2_ADDRESS)));

        // Every revert fails as well: each change left behind is named, with why, for an operator to remove.
        assertTrue(e.getMessage().endsWith("failed: RTNETLINK answers: No buffer space available; could NOT undo, remove by"
                + " hand: created vxlan10 ('ip -n " + hv1 + " link del vxlan10' failed: RTNETLINK answers: No buffer space"
                + " available), created vxbr10 ('ip -n " + hv1 + " link del vxbr10' failed: RTNETLINK answers: No buffer"
                + " space available)"), e.getMessage());
    }

    /** What the kernel answers when it cannot take a change, as iproute2 reports it. */
    private static io.virtfleet.common.process.Command.Result refusal(io.virtfleet.common.process.Command command) {
        return new io.virtfleet.common.process.Command.Result(command, 2, "", "RTNETLINK answers: No buffer space available\n",
                java.time.Duration.ZERO);
    }
}
