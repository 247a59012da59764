package io.virtfleet.controller.vm;

import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.controller.testkit.NamespacedAgent;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.controller.testkit.Underlay;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

/**
 * {@code vm create} and {@code vm delete} on real components, as an operator over mutual TLS: three simulated
 * hypervisors, each a real libvirtd (QEMU/TCG) in a mount namespace and a network namespace of its own, cabled to
 * one underlay switch (10.249.0.0/24, the vRack); a real single-node Ceph on the underlay for the ssd and sata
 * tiers; raw disks in each host's images directory; an embedded controller and three enrolled agents.
 *
 * <p>What it proves: a VM's QEMU runs on the host the controller chose (in that host's network namespace, its
 * libvirtd's domain running), opens the disk the controller's definition names (the RBD image, over the
 * underlay, with the cephx secret the agent put into that host's libvirt; or the raw image) with the MAC of its
 * name and the LAN's MTU; deleting with its disk leaves nothing behind; and a request the hosts must refuse
 * (a disk of another size, a missing pool) is refused with the host's reason and leaves nothing either.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RealFleetVmTest {
    private static final List<String> HOSTS = List.of("hv1", "hv2", "hv3");
    private static final String UNDERLAY = "10.249.0";
    private static final String UNDERLAY_DEVICE = "ul0";
    /** VXLAN's own headers (50 bytes over IPv4) come off the underlay's 1500. */
    private static final int LAN_MTU = 1450;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path work;

    private static final NetworkNamespaces namespaces = new NetworkNamespaces();
    private static final Map<String, Host> hosts = new LinkedHashMap<>();
    private static final List<AutoCloseable> closers = new ArrayList<>();
    private static final List<ProcessHandle> qemus = new ArrayList<>();
    private static CephCluster ceph;
    private static EmbeddedFleet fleet;
    private static FleetGrpc.FleetBlockingStub operator;
    private static final long t0 = System.nanoTime();

    /** One simulated hypervisor: its namespace, its libvirtd, its raw images directory, its underlay address. */
    private record Host(String name, String namespace, LibvirtdNode node, Path images, String underlayAddress) {}

    @BeforeAll
    static void threeHypervisorsCephAndAController() throws Exception {
        Underlay underlay = new Underlay(namespaces, UNDERLAY);
        // Ceph (seconds of its daemons and command-line tools) comes up while the hosts' libvirtds start.
        CompletableFuture<CephCluster> cephStarting = CompletableFuture.supplyAsync(() -> {
            try {
                return CephCluster.start(work.resolve("ceph"), underlay.rootAddress());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, task -> {
            Thread t = new Thread(task, "ceph-start");
            t.setDaemon(true);
            t.start();
        });
        // Closed after the agents and the fleet, before the libvirtds, as when it started first; once up, if still starting.
        closers.add(() -> cephStarting.handle((cluster, failed) -> {
            if (cluster != null) {
                cluster.close();
            }
            return null;
        }));

        LibvirtdNode first = null;
        List<String> hostNamespaces = new ArrayList<>();
        for (int i = 0; i < HOSTS.size(); i++) {
            String name = HOSTS.get(i);
            String ns = namespaces.create(name);
            hostNamespaces.add(ns);
            String address = UNDERLAY + "." + (11 + i);
            underlay.plug(ns, UNDERLAY_DEVICE, address + "/24");
            LibvirtdNode.Options options = LibvirtdNode.Options.defaults().inNetworkNamespace(ns);
            if (first != null) {
                options = options.seedCacheFrom(first.cacheDir()); // the QEMU capabilities the first node probed
            }
            LibvirtdNode node;
            try {
                node = LibvirtdNode.start(work.resolve("nodes").resolve(name), name, options);
            } catch (IOException | RuntimeException e) {
                fail("this test needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                        + ") and could not start one: " + e.getMessage(), e);
                return;
            }
            closers.add(node);
            if (first == null) {
                first = node;
                probeCapabilities(node);
            }
            hosts.put(name, new Host(name, ns, node, work.resolve("agents").resolve(name).resolve("images"), address));
            lap(name + ": libvirtd in network namespace " + ns + " at " + address);
        }

        try {
            ceph = cephStarting.join();
        } catch (CompletionException e) {
            fail("this test needs a real Ceph (root, Debian packages " + CephCluster.PACKAGES + ") and could not start one: "
                    + e.getCause().getMessage(), e.getCause());
        }
        lap("Ceph up on the underlay at " + ceph.monitor());

        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of()).heartbeat(Duration.ofMillis(200))
                .reconcileInterval(Duration.ofHours(1))
                .provisioning(p -> p.withDomain(p.domain()
                        .withCephMonitors(List.of(Endpoint.parse("ceph-monitors", ceph.monitor())))))
                .build().start();
        closers.add(0, fleet);
        CephSettings cephSettings = new CephSettings(ceph.conf(), CephCluster.CLIENT, ceph.clientKeyring(), CephCluster.SSD_POOL,
                CephCluster.SATA_POOL, Duration.ofSeconds(10));
        for (int i = 0; i < HOSTS.size(); i++) {
            Host host = hosts.get(HOSTS.get(i));
            Path state = work.resolve("agents").resolve(host.name());
            closers.add(0, NamespacedAgent.start(fleet, host.name(), state, host.node().uri(), hostNamespaces.get(i),
                    UNDERLAY_DEVICE, cephSettings));
            lap(host.name() + ": agent enrolled");
        }

        Clients admin = Clients.as(fleet.adminCredentials());
        closers.add(0, admin);
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        await("three hosts ready, each reporting its underlay address", () -> operator
                .listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .filter(h -> h.getState() == HostState.HOST_STATE_READY && h.getReport().getVxlanAddress().startsWith(UNDERLAY + "."))
                .count() == HOSTS.size());
        lap("fleet ready");
    }

    @AfterAll
    static void stopEverything() throws Exception {
        List<Throwable> problems = new ArrayList<>();
        for (AutoCloseable c : closers) {
            try {
                c.close();
            } catch (Exception | AssertionError e) {
                problems.add(e);
            }
        }
        namespaces.close();
        for (ProcessHandle qemu : qemus) {
            if (qemu.isAlive()) {
                problems.add(new AssertionError("qemu " + qemu.pid() + " still running after cleanup"));
                qemu.destroyForcibly();
            }
        }
        lap("cleaned up");
        if (!problems.isEmpty()) {
            AssertionError e = new AssertionError("cleanup failed: " + problems.get(0), problems.get(0));
            problems.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }

    @Test
    @Order(1)
    void aSataVmOnALanRunsOnTheChosenHostFromItsRbdImageAndDeleteRemovesEverything() throws Exception {
        List<VmProgress> steps = create(spec("git", StorageTier.STORAGE_TIER_SATA).build());
        lap("created git (sata): " + steps.stream().map(VmProgress::getStep).toList());

        assertEquals(List.of("placed", "disk", "network", "defined", "started", "done"),
                steps.stream().map(VmProgress::getStep).toList());
        Host home = hosts.get(steps.get(0).getHost());
        Vm vm = operator.getVm(GetVmRequest.newBuilder().setName("git").build());
        assertEquals(home.name(), vm.getHomeHost());
        assertEquals("VM_PHASE_READY", vm.getPhase().name());
        assertTrue(fleet.controller().scheduler().claims().stream()
                .anyMatch(c -> c.vmName().equals("git") && c.host().equals(home.name())), "claimed on its home host");
        assertTrue(steps.get(1).getDetail().startsWith(
                "created rbd:libvirt-sata/git 1 GiB; libvirt secret 'client.libvirt secret' ("), steps.get(1).getDetail());
        ProcessHandle qemu = assertRunsOnlyOn(home, "git");
        String commandLine = qemu.info().commandLine().orElse("");
        assertTrue(commandLine.contains("\"driver\":\"rbd\"") && commandLine.contains("\"pool\":\"libvirt-sata\"")
                && commandLine.contains("\"image\":\"git\""), "QEMU opens rbd:libvirt-sata/git: " + commandLine);
        assertTrue(commandLine.contains("\"host\":\"" + UNDERLAY + ".1\""),
                "monitors from the controller's settings: " + commandLine);
        assertLanNic(home, "git", commandLine);
        assertEquals(GIB, ceph.imageSize(CephCluster.SATA_POOL, "git"));
        assertFalse(ceph.images(CephCluster.SSD_POOL).contains("git"), "not in the other tier's pool");
        assertEquals(List.of(home.underlayAddress()), watchers(CephCluster.SATA_POOL + "/git"),
                "the image is held open by a client at the home host's underlay address: its QEMU, through the secret");

        delete("git");

        assertGone(home, "git", qemu);
        assertFalse(ceph.images(CephCluster.SATA_POOL).contains("git"), "image removed with --delete-disk");
    }

    @Test
    @Order(2)
    void aRawVmPinnedToAHostRunsThereFromItsLocalImageAndDeleteRemovesEverything() throws Exception {
        Host hv3 = hosts.get("hv3");
        List<VmProgress> steps = create(spec("web", StorageTier.STORAGE_TIER_RAW).setPinnedHost("hv3").build());
        lap("created web (raw, pinned to hv3): " + steps.stream().map(VmProgress::getStep).toList());

        assertEquals("hv3", steps.get(0).getHost());
        assertEquals("done", steps.get(steps.size() - 1).getStep());
        Path image = hv3.images().resolve("web.img");
        String info = Command.of("qemu-img", "info", "--output=json", image.toString()).runChecked().stdout();
        JsonObject json = JsonParser.parseString(info).getAsJsonObject();
        assertEquals("raw", json.get("format").getAsString());
        assertEquals(GIB, json.get("virtual-size").getAsLong());
        for (Host other : hosts.values()) {
            if (other != hv3) {
                assertFalse(Files.exists(other.images().resolve("web.img")), "no image on " + other.name());
            }
        }
        ProcessHandle qemu = assertRunsOnlyOn(hv3, "web");
        String commandLine = qemu.info().commandLine().orElse("");
        assertTrue(commandLine.contains("\"filename\":\"" + image + "\""),
                "QEMU opens the host's raw image " + image + ": " + commandLine);
        assertLanNic(hv3, "web", commandLine);

        delete("web");

        assertGone(hv3, "web", qemu);
        assertFalse(Files.exists(image), "raw image removed with --delete-disk");
    }

    @Test
    @Order(3)
    void anSsdVmRunsFromItsImageInTheSsdPoolAndDeleteRemovesEverything() throws Exception {
        List<VmProgress> steps = create(spec("db", StorageTier.STORAGE_TIER_SSD).build());
        lap("created db (ssd): " + steps.stream().map(VmProgress::getStep).toList());

        Host home = hosts.get(steps.get(0).getHost());
        ProcessHandle qemu = assertRunsOnlyOn(home, "db");
        String commandLine = qemu.info().commandLine().orElse("");
        assertTrue(commandLine.contains("\"pool\":\"libvirt-ssd\"") && commandLine.contains("\"image\":\"db\""), commandLine);
        assertEquals(GIB, ceph.imageSize(CephCluster.SSD_POOL, "db"));
        assertFalse(ceph.images(CephCluster.SATA_POOL).contains("db"));
        assertEquals(List.of(home.underlayAddress()), watchers(CephCluster.SSD_POOL + "/db"));

        delete("db");

        assertGone(home, "db", qemu);
        assertFalse(ceph.images(CephCluster.SSD_POOL).contains("db"));
    }

    @Test
    @Order(4)
    void aCephDiskThatExistsWithAnotherSizeIsRefusedAndNothingIsLeftBehind() throws Exception {
        assertEquals(0, ceph.rbd("create", "--size", "2G", CephCluster.SATA_POOL + "/old").exitCode(), "someone's 2 GiB image");

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> create(spec("old", StorageTier.STORAGE_TIER_SATA).build()));

        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().matches("disk on hv\\d failed: FAILED_PRECONDITION rbd:libvirt-sata/old "
                + "already exists with 2 GiB \\(2147483648 bytes\\), not the requested 1 GiB \\(1073741824 bytes\\).*"),
                e.getStatus().getDescription());
        assertEquals(2 * GIB, ceph.imageSize(CephCluster.SATA_POOL, "old"), "someone's disk is neither resized nor deleted");
        assertNothingLeftOf("old");
    }

    @Test
    @Order(5)
    void aPoolMissingFromTheClusterIsRefusedNamingItAndNothingIsLeftBehind() throws Exception {
        Command.Result removed = ceph.ceph("osd", "pool", "delete", CephCluster.SSD_POOL, CephCluster.SSD_POOL,
                "--yes-i-really-really-mean-it");
        assertEquals(0, removed.exitCode(), removed.stderr());

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> create(spec("cache", StorageTier.STORAGE_TIER_SSD).build()));

        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().matches("disk on hv\\d failed: FAILED_PRECONDITION Ceph pool libvirt-ssd "
                + "\\(ceph-pool-ssd\\) does not exist in the cluster of .*"), e.getStatus().getDescription());
        assertNothingLeftOf("cache");
    }

    /** A scenario that failed midway must not leave its VM to the next one: delete whatever is still recorded. */
    @AfterEach
    void deleteLeftovers() {
        for (Vm vm : operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsList()) {
            delete(vm.getSpec().getName());
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    /** A small VM on LAN 10: nothing boots (there is no OS image), a domain that starts and runs is enough. */
    private static VmSpec.Builder spec(String name, StorageTier tier) {
        return VmSpec.newBuilder().setName(name).setStorage(tier).setDiskBytes(GIB).setMemoryBytes(256 * MIB).setVcpus(1)
                .setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base");
    }

    private static List<VmProgress> create(VmSpec spec) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    private static void delete(String name) {
        List<String> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).deleteVm(DeleteVmRequest.newBuilder().setName(name).setDeleteDisk(true)
                .build()).forEachRemaining(p -> steps.add(p.getStep() + " on " + p.getHost() + ": " + p.getDetail()));
        lap("deleted " + name + ": " + steps);
    }

    /**
     * The domain runs on {@code home}'s libvirtd and is defined on no other host; its QEMU process lives in
     * {@code home}'s network namespace. Returns that process.
     */
    private static ProcessHandle assertRunsOnlyOn(Host home, String vm) throws Exception {
        assertEquals(List.of(vm), runningDomains(home.node()), "running on " + home.name() + "'s libvirtd");
        for (Host other : hosts.values()) {
            if (other != home) {
                assertEquals(List.of(), runningDomains(other.node()), "nothing runs on " + other.name());
                assertEquals(List.of(), definedDomains(other.node()), "nothing defined on " + other.name());
            }
        }
        Path pidFile = home.node().dir().resolve("run").resolve("qemu").resolve(vm + ".pid");
        long pid = Long.parseLong(Files.readString(pidFile).strip());
        ProcessHandle qemu = ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("no qemu process " + pid));
        qemus.add(qemu);
        assertTrue(qemu.info().command().orElse("").contains("qemu-system"), qemu.info().toString());
        assertEquals(namespaceInode(Path.of("/run/netns", home.namespace())),
                namespaceInode(Path.of("/proc", Long.toString(pid), "ns", "net")),
                "QEMU of " + vm + " is in " + home.name() + "'s network namespace");
        return qemu;
    }

    /** The NIC has the MAC of the VM's name, sits on LAN 10's bridge with the bridge's MTU, and tells the guest that MTU. */
    private static void assertLanNic(Host home, String vm, String commandLine) {
        assertTrue(commandLine.contains("\"mac\":\"" + DomainIdentity.lanMac(vm) + "\""),
                "NIC with the name's MAC: " + commandLine);
        assertEquals(LAN_MTU, Underlay.mtu(namespaces, home.namespace(), "vxbr10"),
                "LAN bridge MTU: the underlay's 1500 less VXLAN's 50");
        assertTrue(commandLine.contains("\"host_mtu\":" + LAN_MTU), "the guest is told the LAN's MTU: " + commandLine);
    }

    /** Nothing of the VM anywhere: no domain on any host, its QEMU gone, no definition, no record, no claim. */
    private static void assertGone(Host home, String vm, ProcessHandle qemu) throws Exception {
        assertTrue(qemu.onExit().get(30, TimeUnit.SECONDS) != null && !qemu.isAlive(), "QEMU of " + vm + " exited");
        assertNothingLeftOf(vm);
        assertFalse(Files.exists(home.node().dir().resolve("etc").resolve("qemu").resolve(vm + ".xml")),
                "libvirt's own copy of the definition is gone");
    }

    private static void assertNothingLeftOf(String vm) throws Exception {
        for (Host h : hosts.values()) {
            assertFalse(runningDomains(h.node()).contains(vm) || definedDomains(h.node()).contains(vm), vm + " on " + h.name());
            assertFalse(Files.exists(h.images().resolve(vm + ".img")), vm + ".img on " + h.name());
        }
        assertFalse(Files.exists(work.resolve("fleet/controller/definitions/etc/libvirt/qemu").resolve(vm + ".xml")),
                "no definition in the repository");
        assertTrue(fleet.controller().scheduler().claims().stream().noneMatch(c -> c.vmName().equals(vm)), "no claim");
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class,
                () -> operator.getVm(GetVmRequest.newBuilder().setName(vm).build()));
        assertEquals(Status.Code.NOT_FOUND, gone.getStatus().getCode());
        assertTrue(operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsList().stream()
                .map(Vm::getSpec).noneMatch(s -> s.getName().equals(vm)));
    }

    /** Names of the domains running on a node, asked of its libvirtd directly. */
    private static List<String> runningDomains(LibvirtdNode node) throws LibvirtException {
        Connect conn = new Connect(node.uri(), true);
        try {
            List<String> names = new ArrayList<>();
            for (int id : conn.listDomains()) {
                Domain d = conn.domainLookupByID(id);
                try {
                    names.add(d.getName());
                } finally {
                    d.free();
                }
            }
            return names;
        } finally {
            conn.close();
        }
    }

    /** Names of the domains defined but not running on a node. */
    private static List<String> definedDomains(LibvirtdNode node) throws LibvirtException {
        Connect conn = new Connect(node.uri(), true);
        try {
            return List.of(conn.listDefinedDomains());
        } finally {
            conn.close();
        }
    }

    /** IPv4 addresses of the clients watching an image (an open image is watched by its client). */
    private static List<String> watchers(String image) {
        Command.Result r = ceph.rbd("status", "--format", "json", image);
        assertEquals(0, r.exitCode(), r.stderr());
        JsonArray list = JsonParser.parseString(r.stdout()).getAsJsonObject().getAsJsonArray("watchers");
        List<String> out = new ArrayList<>();
        list.forEach(w -> out.add(w.getAsJsonObject().get("address").getAsString().split(":")[0]));
        return out;
    }

    /** The inode of a network namespace, from its nsfs file or a process's ns link ("net:[4026532247]"). */
    private static long namespaceInode(Path path) throws IOException {
        if (Files.isSymbolicLink(path)) {
            String link = Files.readSymbolicLink(path).toString();
            return Long.parseLong(link.substring(link.indexOf('[') + 1, link.indexOf(']')));
        }
        return ((Number) Files.getAttribute(path, "unix:ino")).longValue();
    }

    /** The first node probes QEMU's capabilities (seconds under TCG) once; the others start with its cache. */
    private static void probeCapabilities(LibvirtdNode node) throws LibvirtException {
        Connect conn = new Connect(node.uri(), false);
        try {
            conn.getVersion();
        } finally {
            conn.close();
        }
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.sleep(50);
        }
    }

    private static void lap(String what) {
        System.out.printf("[%6d ms] %s%n", (System.nanoTime() - t0) / 1_000_000, what);
    }
}
