package io.virtfleet.controller.vm;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.ovh.FakeOvhApi;
import io.virtfleet.controller.ovh.OvhSettings;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.NamespacedAgent;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vm create --failover-ip} with OVH's API, end to end: an embedded fleet of two hosts (agents on libvirt
 * test-driver nodes, each host's network in a namespace of its own with a public bridge br0, and a public address),
 * whose controller talks to {@link FakeOvhApi} (a fake of OVH's API: OVH cannot be reached from here) over HTTP.
 * hv1 is the bigger, idler host, where placement puts new VMs; the failover IP starts routed to hv2's server.
 */
class OvhFailoverCreateTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final String IP = "198.51.100.77";
    private static final String S1 = "ns3001234.ip-203-0-113.eu";
    private static final String S2 = "ns3005678.ip-203-0-113.eu";

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final Map<String, Path> images = new LinkedHashMap<>();
    private final Map<String, String> hostNamespace = new LinkedHashMap<>();
    private FakeOvhApi ovh;
    private EmbeddedFleet fleet;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void twoHostsAndOvh() throws Exception {
        ovh = new FakeOvhApi().server(S1, "203.0.113.10").server(S2, "203.0.113.20").ip(IP, S2);
        closers.add(ovh);
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.249.0.1/24", ns2, "10.249.0.2/24", "ul0");
        hostNamespace.put("hv1", ns1);
        hostNamespace.put("hv2", ns2);
        for (String ns : List.of(ns1, ns2)) {
            namespaces.ip(ns, "link", "add", "br0", "type", "bridge");
            namespaces.ip(ns, "link", "set", "br0", "up");
        }
        OvhSettings api = OvhSettings.of(ovh.account(), Map.of("hv1", S1, "hv2", S2))
                .withTimings(Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofMillis(10));
        fleet = EmbeddedFleet.builder(work).nodes(List.of()).heartbeat(HEARTBEAT).reconcileInterval(Duration.ofHours(1))
                .provisioning(p -> p.withOvh(api)).build().start();
        closers.add(0, fleet);
        for (String host : List.of("hv1", "hv2")) {
            TestDriverNode node = host.equals("hv1") ? new TestDriverNode(host, 32, 131072) : new TestDriverNode(host, 8, 16384);
            Path state = work.resolve("agents").resolve(host);
            images.put(host, state.resolve("images"));
            closers.add(0, NamespacedAgent.start(fleet, host, state, node.writeTo(work.resolve("nodes")),
                    hostNamespace.get(host), "ul0", null,
                    Ipv4.publicAddress("public-address", host.equals("hv1") ? "203.0.113.10" : "203.0.113.20")));
        }
        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        io.virtfleet.controller.testkit.Await.until("both hosts ready with their public addresses", Duration.ofSeconds(20),
                () -> operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream().filter(h -> !h.getReport().getPublicAddress().isEmpty()
                        && h.getState() == io.virtfleet.proto.v1.HostState.HOST_STATE_READY).count() == 2);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closers) {
            c.close();
        }
        namespaces.close();
    }

    private static VmSpec www(String name, String ip, String mac) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(2 * GIB)
                .setMemoryBytes(GIB).setVcpus(1).setProfile("api")
                .setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder().setAddress(ip).setMac(mac))).build();
    }

    private List<VmProgress> create(VmSpec spec, boolean dryRun) {
        List<VmProgress> steps = new ArrayList<>();
        Iterator<VmProgress> it = operator.createVm(CreateVmRequest.newBuilder().setSpec(spec).setDryRun(dryRun).build());
        it.forEachRemaining(steps::add);
        return steps;
    }

    private static List<String> names(List<VmProgress> steps) {
        return steps.stream().map(VmProgress::getStep).toList();
    }

    private static String details(List<VmProgress> steps, String step) {
        return String.join("\n", steps.stream().filter(p -> p.getStep().equals(step)).map(VmProgress::getDetail).toList());
    }

    @Test
    void theIpIsMovedToTheLeastLoadedHostAndGetsAVirtualMacMadeThereBeforeAnythingIsBuilt() throws Exception {
        List<VmProgress> steps = create(www("www", IP, ""), false);
        List<String> order = names(steps).stream().distinct().toList();
        assertEquals(List.of("placed", "failover-ip", "virtual-mac", "disk", "network", "defined", "started", "done"),
                order, steps.toString());
        String moving = details(steps, "failover-ip");
        assertTrue(moving.matches("(?s)moving failover IP " + IP + " from " + S2 + " \\(hv2\\) to " + S1 + " \\(hv1\\): OVH"
                + " task [0-9]+ init, waiting for it \\(up to 10s\\).*"), moving);
        assertTrue(moving.contains("task") && moving.endsWith("failover IP " + IP + " is routed to " + S1 + " (hv1) (was "
                + S2 + " (hv2))"), moving);
        assertEquals(S1, ovh.routeOf(IP));

        Map<String, Set<String>> macs = ovh.virtualMacs(S1);
        assertEquals(1, macs.size(), macs.toString());
        String mac = macs.keySet().iterator().next();
        assertEquals(Set.of(IP), macs.get(mac));
        assertTrue(details(steps, "virtual-mac").endsWith("OVH made virtual MAC " + mac + " for " + IP + " on " + S1 + " (hv1)"),
                details(steps, "virtual-mac"));
        assertEquals("{\"ipAddress\":\"" + IP + "\",\"type\":\"ovh\",\"virtualMachineName\":\"www\"}",
                ovh.calls("POST").get(1).body());

        var vm = operator.getVm(GetVmRequest.newBuilder().setName("www").build());
        assertEquals("hv1", vm.getHomeHost());
        assertEquals(mac, vm.getSpec().getNetwork().getFailover().getMac(), "the VM is recorded with OVH's MAC");
        assertTrue(Files.readString(work.resolve("controller/definitions/etc/libvirt/qemu/www.xml"))
                .contains("<mac address=\"" + mac + "\"/>"), "its definition uses it");
    }

    @Test
    void aVirtualMacOvhHasForTheIpIsUsedAsAfterACrashBetweenOvhAndTheRecord() throws Exception {
        // What a create leaves when the controller stops after OVH made the MAC and before the VM was recorded: the IP
        // routed to hv1's server with a MAC there, and no VM, no claim (released at the restart). Creating the VM again
        // looks the MAC up before making one, and uses it: OVH is only read.
        ovh.ip(IP, S1).virtualMac(S1, "02:00:00:aa:bb:01", IP);
        List<VmProgress> steps = create(www("www", IP, ""), false);
        assertEquals("using virtual MAC 02:00:00:aa:bb:01 of " + IP + " on " + S1 + " (hv1), which OVH has already",
                details(steps, "virtual-mac"));
        assertFalse(names(steps).contains("failover-ip"), "routed there already: " + steps);
        assertEquals(List.of(), ovh.calls("POST"), "nothing made or moved at OVH");
        assertEquals("02:00:00:aa:bb:01", operator.getVm(GetVmRequest.newBuilder().setName("www").build()).getSpec()
                .getNetwork().getFailover().getMac());
    }

    @Test
    void anOperatorsMacThatIsTheIpsVirtualMacAtOvhIsKeptAndTheIpMovedWithIt() throws Exception {
        ovh.virtualMac(S2, "02:00:00:ab:cd:ef", IP);
        List<VmProgress> steps = create(www("www", IP, "02:00:00:AB:CD:EF"), false);
        assertEquals("using virtual MAC 02:00:00:ab:cd:ef of " + IP + " on " + S1 + " (hv1), which OVH has already",
                details(steps, "virtual-mac"));
        assertEquals(S1, ovh.routeOf(IP));
        assertEquals(Map.of("02:00:00:ab:cd:ef", Set.of(IP)), ovh.virtualMacs(S1), "OVH moved the MAC with the IP");
        assertEquals(1, ovh.calls("POST").size(), "the move only");
        assertEquals("02:00:00:ab:cd:ef", operator.getVm(GetVmRequest.newBuilder().setName("www").build()).getSpec()
                .getNetwork().getFailover().getMac());
    }

    @Test
    void anOperatorsMacThatIsNotTheIpsVirtualMacAtOvhIsRefusedWithWhatOvhHas() throws Exception {
        ovh.virtualMac(S2, "02:00:00:aa:bb:01", IP);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> create(www("www", IP, "02:00:00:00:00:99"), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertEquals("spec.network.failover.mac (--failover-mac): 02:00:00:00:00:99 is not the virtual MAC of " + IP
                + " at OVH, which is 02:00:00:aa:bb:01 on " + S2 + " (hv2); OVH routes the IP to its virtual MAC only",
                e.getStatus().getDescription());
        assertEquals(List.of(), ovh.calls("POST"));
        assertEquals(S2, ovh.routeOf(IP));
        assertNothingLeftOf("www");
    }

    @Test
    void anIpWithAVirtualMacOnAnotherServerIsNotMovedAwayUnlessTheOperatorNamesThatMac() throws Exception {
        ovh.virtualMac(S2, "02:00:00:aa:bb:01", IP);
        String refusal = "failover IP " + IP + " has virtual MAC 02:00:00:aa:bb:01 on " + S2 + " (hv2), so a machine"
                + " there likely uses it; virtfleet does not move it away to " + S1 + " (hv1): if that machine is gone,"
                + " give --failover-mac 02:00:00:aa:bb:01 (spec.network.failover.mac) to take the IP and its MAC over for"
                + " this VM, or delete the virtual MAC in the OVH panel";
        assertTrue(details(create(www("www", IP, ""), true), "plan").startsWith("would create www on hv1: would be"
                + " refused: " + refusal), "the dry run shows it");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("www", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertEquals(refusal, e.getStatus().getDescription());
        assertEquals(List.of(), ovh.calls("POST"));
        assertEquals(S2, ovh.routeOf(IP));
        assertNothingLeftOf("www");
    }

    @Test
    void aDryRunOnlyReadsOvhAndSaysWhatItWouldDo() {
        List<VmProgress> steps = create(www("www", IP, ""), true);
        assertTrue(details(steps, "plan").startsWith("would create www on hv1: failover IP " + IP + " would be moved from "
                + S2 + " (hv2) to " + S1 + " (hv1), and get a virtual MAC made there at OVH; disk,"),
                details(steps, "plan"));
        assertEquals(List.of(), ovh.calls("POST"));
        assertEquals(S2, ovh.routeOf(IP));
        assertTrue(fleet.controller().scheduler().claims().isEmpty());
    }

    @Test
    void anIpOvhSaysIsNotOursIsRefusedNamingTheFieldWithOvhsAnswerBeforeAnythingIsClaimed() throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("www", "198.51.100.99", ""), false));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("spec.network.failover.address: OVH says 198.51.100.99 is not an IP of this account (HTTP 404): The"
                + " requested object (ip = 198.51.100.99/32) does not exist", e.getStatus().getDescription());
        assertNothingLeftOf("www");
        assertEquals(List.of(), ovh.calls("POST"));
    }

    @Test
    void ovhsRefusalsAndFailuresLeaveNothingBehindAndShowOvhsMessage() throws Exception {
        // A move OVH's task fails: nothing moved, nothing built.
        ovh.tasksEnd(FakeOvhApi.TaskEnd.OVH_ERROR);
        StatusRuntimeException failed = assertThrows(StatusRuntimeException.class, () -> create(www("a", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, failed.getStatus().getCode());
        assertTrue(failed.getStatus().getDescription().matches("OVH task [0-9]+ \\(moving failover IP " + IP + " to "
                + S1 + "\\) ended ovhError: Internal error, the operation was not carried out \\(fake\\)"),
                failed.getStatus().getDescription());
        assertEquals(S2, ovh.routeOf(IP));
        assertNothingLeftOf("a");

        // The move is made, then OVH's virtual MAC task fails: the move stays and is reported.
        ovh.tasksEnd(FakeOvhApi.TaskEnd.DONE).serverTasksEnd(FakeOvhApi.TaskEnd.CUSTOMER_ERROR);
        StatusRuntimeException noMac = assertThrows(StatusRuntimeException.class, () -> create(www("b", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, noMac.getStatus().getCode());
        assertTrue(noMac.getStatus().getDescription().endsWith("ended customerError: The IP is blocked for abuse (fake);"
                + " failover IP " + IP + " was moved to " + S1 + " (hv1) by this create (from " + S2 + " (hv2)) and stays"
                + " there"), noMac.getStatus().getDescription());
        assertEquals(Map.of(), ovh.virtualMacs(S1));
        assertNothingLeftOf("b");

        // A server OVH does not know (hv1's service name is wrong, or the server is gone).
        ovh.serverTasksEnd(FakeOvhApi.TaskEnd.DONE).ip(IP, S2).removeServer(S1);
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> create(www("c", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, unknown.getStatus().getCode());
        assertEquals("OVH refused looking up server " + S1 + " (GET /dedicated/server/" + S1 + ") (HTTP 404): The requested"
                + " object (serviceName = " + S1 + ") does not exist", unknown.getStatus().getDescription());
        assertNothingLeftOf("c");

        // OVH down.
        ovh.server(S1).down(true);
        StatusRuntimeException down = assertThrows(StatusRuntimeException.class, () -> create(www("d", IP, ""), false));
        assertEquals(Status.Code.UNAVAILABLE, down.getStatus().getCode());
        assertTrue(down.getStatus().getDescription().startsWith("OVH failed looking up failover IP " + IP), down.getStatus().getDescription());
        assertNothingLeftOf("d");
    }

    @Test
    void aLaterStepThatFailsDeletesTheVirtualMacThisCreateMadeAndReportsTheMove() throws Exception {
        // hv1's public bridge disappears: the network step fails after OVH made the MAC.
        namespaces.ip(hostNamespace.get("hv1"), "link", "del", "br0");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("www", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        String why = e.getStatus().getDescription();
        assertTrue(why.startsWith("network on hv1 failed") && why.contains("br0"), why);
        assertTrue(why.endsWith("; failover IP " + IP + " was moved to " + S1 + " (hv1) by this create (from " + S2
                + " (hv2)) and stays there"), why);
        assertEquals(Map.of(), ovh.virtualMacs(S1), "the MAC this create made is deleted");
        assertEquals(1, ovh.calls("DELETE").size());
        assertNothingLeftOf("www");
    }

    @Test
    void aVirtualMacOvhWillNotDeleteIsNamedInTheError() throws Exception {
        namespaces.ip(hostNamespace.get("hv1"), "link", "del", "br0");
        ovh.ip(IP, S1).refuseDeletes(true);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("www", IP, ""), false));
        String mac = ovh.virtualMacs(S1).keySet().iterator().next();
        assertTrue(e.getStatus().getDescription().contains("; virtual MAC " + mac + " that this create made for " + IP
                + " is left on " + S1 + " (hv1) at OVH (OVH refused deleting virtual MAC " + mac + " of " + IP + " on "
                + S1 + " (HTTP 403): This call has not been granted): delete it in the OVH panel"),
                e.getStatus().getDescription());
        assertNothingLeftOf("www");
    }

    @Test
    void aSecondVmWithTheSameFailoverIpIsRefusedNamingTheFirstBeforeOvhIsAsked() throws Exception {
        create(www("www", IP, ""), false);
        int calls = ovh.calls().size();
        for (boolean dryRun : List.of(true, false)) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("api", IP, ""), dryRun));
            assertEquals(Status.Code.ALREADY_EXISTS, e.getStatus().getCode());
            assertEquals("spec.network.failover.address: " + IP + " is the failover IP of VM www (on hv1); a failover IP"
                    + " goes to one VM only (delete that VM first, or choose another IP)", e.getStatus().getDescription());
        }
        assertEquals(calls, ovh.calls().size(), "OVH not asked");
        assertEquals(S1, ovh.routeOf(IP), "still routed to www's host");
        assertEquals(List.of("www"), fleet.controller().vms().list().stream().map(v -> v.getSpec().getName()).toList());
    }

    @Test
    void ofTwoCreatesWithTheSameFailoverIpAtOnceExactlyOneReachesOvh() throws Exception {
        ovh.slow(Duration.ofMillis(100)); // the first create is still at OVH when the second asks
        java.util.concurrent.ExecutorService two = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<String>> outcomes = new ArrayList<>();
            for (String name : List.of("www", "api")) {
                outcomes.add(two.submit(() -> {
                    go.await();
                    try {
                        create(www(name, IP, ""), false);
                        return "created";
                    } catch (StatusRuntimeException e) {
                        return e.getStatus().getCode() + ": " + e.getStatus().getDescription();
                    }
                }));
            }
            go.countDown();
            List<String> results = new ArrayList<>();
            for (var f : outcomes) {
                results.add(f.get());
            }
            assertEquals(1, results.stream().filter("created"::equals).count(), results.toString());
            String refused = results.stream().filter(r -> !r.equals("created")).findFirst().orElseThrow();
            assertTrue(refused.startsWith("ALREADY_EXISTS: spec.network.failover.address: " + IP + " is the failover IP"
                    + " of VM "), refused);
        } finally {
            two.shutdownNow();
        }
        assertEquals(1, ovh.calls("GET").stream().filter(c -> c.path().equals("/ip/198.51.100.77%2F32")).count(),
                "only one create asked OVH where the IP is");
        assertEquals(1, ovh.calls("POST").stream().filter(c -> c.path().endsWith("/move")).count());
        assertEquals(1, fleet.controller().vms().list().size());
    }

    @Test
    void ovhServicesNamingAnotherHostsServerIsRefusedBeforeTheMove() throws Exception {
        ovh.server(S1, "203.0.113.20"); // hv1's service name is hv2's server
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("www", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertEquals("ovh-services names " + S1 + " for host hv1, but OVH gives that server the address 203.0.113.20"
                + " while hv1 reports public-address 203.0.113.10: correct ovh-services (or the agent's public-address); "
                + IP + " was not moved", e.getStatus().getDescription());
        assertEquals(List.of(), ovh.calls("POST"));
        assertEquals(S2, ovh.routeOf(IP));
        assertNothingLeftOf("www");
    }

    @Test
    void ovhServicesNamingAnotherHostsServerIsRefusedAlsoWhenTheIpIsAlreadyRoutedThere() throws Exception {
        ovh.server(S1, "203.0.113.20").ip(IP, S1); // hv1's service name is hv2's server, and OVH routes the IP there
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create(www("www", IP, ""), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("ovh-services names " + S1 + " for host hv1, but OVH gives"
                + " that server the address 203.0.113.20"), e.getStatus().getDescription());
        assertEquals(List.of(), ovh.calls("POST"));
        assertNothingLeftOf("www");
    }

    /** No claim, no record, no definition, no disk: the create left nothing in the fleet. */
    private void assertNothingLeftOf(String vm) throws Exception {
        assertTrue(fleet.controller().scheduler().claims().isEmpty(), "no claim");
        assertTrue(fleet.controller().vms().list().isEmpty(), "no VM recorded");
        assertFalse(Files.exists(work.resolve("controller/definitions/etc/libvirt/qemu/" + vm + ".xml")), "no definition");
        for (Map.Entry<String, Path> host : images.entrySet()) {
            assertFalse(Files.exists(host.getValue().resolve(vm + ".img")), "no disk on " + host.getKey());
            assertTrue(operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                    .filter(h -> h.getName().equals(host.getKey())).flatMap(h -> h.getReport().getDomainsList().stream())
                    .noneMatch(d -> d.getName().equals(vm)), "no domain on " + host.getKey());
        }
    }
}
