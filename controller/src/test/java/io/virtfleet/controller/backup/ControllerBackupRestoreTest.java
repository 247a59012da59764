package io.virtfleet.controller.backup;

import static io.virtfleet.common.units.Bytes.GIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.controller.ControllerMain;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.CliRun;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HangOnCall;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The controller's machine is lost and its backup restored on a new one. A fleet of two agents (libvirt test-driver
 * nodes, networks in namespaces of their own, raw disks by the real qemu-img) runs two VMs; a third VM's create is
 * held on its host (EnsureDisk hangs) while {@code virtfleet-controller backup} runs against the controller, which
 * runs in a JVM of its own with mutual TLS. The create then finishes, and the controller stops for good. Its backup
 * is restored by {@code virtfleet-controller restore} into a new, empty data directory, and a new controller is
 * started there on the same address: the same agents (same state, same certificates, no new join token) come back
 * ready, {@code virtfleet drift} finds nothing, every VM is there on its host with its claim, and a new create works.
 * Along the way: a viewer's backup is refused, and restore refuses a directory that is not empty and a damaged
 * archive, leaving nothing behind.
 */
class ControllerBackupRestoreTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration RECONCILE = Duration.ofSeconds(1);
    private static final Duration CONVERGE = Duration.ofSeconds(60);
    private static final List<String> HOSTS = List.of("hv1", "hv2");

    @TempDir
    Path work;

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final HangOnCall hang = new HangOnCall(List.of(AgentGrpc.getEnsureDiskMethod()));
    private final Map<String, Agent> agents = new TreeMap<>();
    private final Map<String, String> namespace = new TreeMap<>();
    private final List<ControllerJvm> controllers = new ArrayList<>();
    private ControllerJvm controller;
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;

    @AfterEach
    void stop() {
        hang.release();
        agents.values().forEach(Agent::close);
        if (admin != null) {
            admin.close();
        }
        controllers.forEach(ControllerJvm::close);
        namespaces.close();
        for (int i = 0; i < controllers.size(); i++) {
            System.out.println("---- controller " + (i + 1) + " of " + controllers.size() + " ----");
            System.out.println(controllers.get(i).logTail(150));
        }
    }

    @Test
    void restoredOnANewMachineTheSameAgentsComeBackWithoutJoinTokensAndTheFleetIsWhole() throws Exception {
        Path oldData = work.resolve("old-machine/controller");
        ControllerJvm.Settings settings = new ControllerJvm.Settings(oldData, 0, HEARTBEAT, HEARTBEAT.multipliedBy(10),
                RECONCILE, Map.of());
        startController(settings);
        Path adminPem = oldData.resolve("pki/admin.pem");
        startAgents();
        assertEquals("done", last(create(spec("db", "hv2"))), "db created");
        assertEquals("done", last(create(spec("cache", "hv1"))), "cache created");

        // A create under way: placed, claimed and recorded, its disk not made yet on hv1.
        hang.arm();
        CompletableFuture<List<VmProgress>> web = CompletableFuture.supplyAsync(() -> create(spec("web", "hv1")));
        await("web's EnsureDisk hangs on hv1", () -> hang.hanging() == 1);

        Path archive = work.resolve("backups/controller.zip");
        Files.createDirectories(archive.getParent());
        Run backup = controllerCommand("backup", "--out", archive.toString(), "--controller", controller.endpoint().toString(),
                "--credentials", adminPem.toString());
        assertEquals(0, backup.code, backup.toString());
        assertTrue(backup.out.contains("Wrote " + archive + ": backup format 1,"), backup.out);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(archive)));

        // A viewer may read the fleet, not take its keys away.
        Path viewerPem = work.resolve("viewer.pem");
        CliRun added = CliRun.as(controller.endpoint(), adminPem, "operator", "add", "carol", "--role", "viewer",
                "--out", viewerPem.toString());
        assertEquals(0, added.code(), added.toString());
        Path refusedOut = work.resolve("backups/by-viewer.zip");
        Run refused = controllerCommand("backup", "--out", refusedOut.toString(), "--controller",
                controller.endpoint().toString(), "--credentials", viewerPem.toString());
        assertEquals(5, refused.code, refused.toString());
        assertTrue(refused.err.contains("not allowed"), refused.err);
        assertFalse(Files.exists(refusedOut), "nothing written for the viewer");

        // A restore, even forced, is refused while a controller runs with the directory: it would write under it.
        Path caKey = oldData.resolve("pki/ca.key");
        byte[] caKeyThen = Files.readAllBytes(caKey);
        Run underARunningController = restore(archive, oldData, "--force");
        assertEquals(2, underARunningController.code, underARunningController.toString());
        assertTrue(underARunningController.err.contains("a controller is running"), underARunningController.err);
        assertArrayEquals(caKeyThen, Files.readAllBytes(caKey), "the running controller's state untouched");
        try (java.util.stream.Stream<Path> beside = Files.list(oldData.getParent())) {
            assertEquals(List.of(), beside.map(p -> p.getFileName().toString())
                    .filter(n -> n.contains("before-restore") || n.contains("restoring")).toList(), "nothing moved aside, no staging left");
        }

        hang.release();
        assertEquals("done", last(web.get(CONVERGE.toSeconds(), TimeUnit.SECONDS)), "web's create finishes");
        awaitConverged("web", "hv1");
        // After the backup, cache's placement changes: it is deleted on hv1 (its disk too) and made again on hv2, as
        // a move or failover would leave it. The backup's records still say hv1.
        List<VmProgress> deleted = new ArrayList<>();
        operator.withDeadlineAfter(CONVERGE.toSeconds(), TimeUnit.SECONDS).deleteVm(io.virtfleet.proto.v1.DeleteVmRequest
                .newBuilder().setName("cache").setDeleteDisk(true).build()).forEachRemaining(deleted::add);
        await("cache gone from hv1", () -> vms().stream().noneMatch(v -> v.getSpec().getName().equals("cache"))
                && domains("hv1").stream().noneMatch(d -> d.getName().equals("cache")));
        assertEquals("done", last(create(spec("cache", "hv2"))), "cache made again on hv2");
        awaitConverged("cache", "hv2");
        String cacheUuid = runningDomain("hv2", "cache").getUuid();
        Map<String, byte[]> agentCertificates = agentCertificates();
        int port = controller.port();
        controller.close(); // the old machine is gone
        assertEquals(0, controller.awaitExit(Duration.ofSeconds(20)));

        // ---- the new machine ----
        Path newData = work.resolve("new-machine/controller");
        Path damaged = work.resolve("backups/damaged.zip");
        byte[] bytes = Files.readAllBytes(archive);
        Files.write(damaged, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        Run bad = restore(damaged, newData);
        assertEquals(1, bad.code, bad.toString());
        assertTrue(bad.err.contains("refused, nothing changed"), bad.err);
        assertFalse(Files.exists(newData), "nothing written");

        Run restore = restore(archive, newData);
        assertEquals(0, restore.code, restore.toString());
        assertTrue(restore.out.contains("Restored " + archive + " into " + newData), restore.out);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(newData.resolve("pki/ca.key"))));
        Run again = restore(archive, newData);
        assertEquals(2, again.code, again.toString());
        assertTrue(again.err.contains("is not empty") && again.err.contains("--force"), again.err);

        assertTrue(Files.readString(newData.resolve(RestoreHold.FILE)).startsWith("taken-at "), "restore left its marker");

        startController(new ControllerJvm.Settings(newData, port, HEARTBEAT, HEARTBEAT.multipliedBy(10), RECONCILE, Map.of()));
        awaitHostsReady();
        // Held: the records say cache runs on hv1, it runs on hv2. Nothing is changed on either host meanwhile.
        await("drift lists cache as running away from its recorded home", () -> {
            CliRun d = CliRun.as(controller.endpoint(), adminPem, "drift");
            return d.code() == 0 && d.out().contains("HOLDING after a restore from a backup taken at")
                    && d.out().lines().anyMatch(l -> l.startsWith("cache ") && l.contains(" hv1 ") && l.contains(" hv2 ")
                            && l.contains(" yes "));
        });
        CliRun heldHosts = CliRun.as(controller.endpoint(), adminPem, "hosts");
        assertTrue(heldHosts.out().startsWith("HOLDING after a restore"), heldHosts.toString());
        CliRun held = CliRun.as(controller.endpoint(), adminPem, "drift", "--exit-code");
        assertEquals(7, held.code(), "a hold is drift: " + held);
        StatusRuntimeException refusedCreate = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> create(spec("api", "hv2")));
        assertEquals(Status.Code.FAILED_PRECONDITION, refusedCreate.getStatus().getCode());
        assertTrue(refusedCreate.getStatus().getDescription().contains("holds after a restore"), refusedCreate.toString());
        // Several reconcile periods' worth of fresh reports from both hosts: without the hold the reconciler would
        // have made cache's disk and definition on hv1 by now (its recorded home).
        long since = System.currentTimeMillis();
        await("both hosts reported 5 reconcile periods after the hold was seen", () -> hosts().stream()
                .filter(h -> h.getLastSeenUnixMs() > since + 5 * RECONCILE.toMillis()).count() == HOSTS.size());
        assertTrue(domains("hv1").stream().noneMatch(d -> d.getName().equals("cache")), "hv1 untouched: " + domains("hv1"));
        assertEquals(cacheUuid, runningDomain("hv2", "cache").getUuid(), "cache still runs on hv2, the same domain");
        assertFalse(controller.logTail(100_000).contains("VM cache:"), "no step run for cache while holding");

        // The admin releases the hold, cache's record following it to hv2.
        CliRun release = CliRun.as(controller.endpoint(), adminPem, "restore-hold", "release", "--follow-running");
        assertEquals(0, release.code(), release.toString());
        assertTrue(release.out().contains("Record of cache follows it to hv2 (was hv1)."), release.out());
        assertFalse(Files.exists(newData.resolve(RestoreHold.FILE)), "marker deleted");
        assertTrue(controller.logTail(100_000).contains("restore-hold released"), "audit-logged");
        assertFalse(CliRun.as(controller.endpoint(), adminPem, "hosts").out().contains("HOLDING"), "hosts: no hold");
        CliRun twice = CliRun.as(controller.endpoint(), adminPem, "restore-hold", "release");
        assertTrue(twice.code() != 0 && twice.err().contains("does not hold"), twice.toString());

        awaitConverged("web", "hv1");
        awaitConverged("db", "hv2");
        awaitConverged("cache", "hv2");
        assertEquals(Map.of("db", "hv2", "cache", "hv2", "web", "hv1"), vms().stream()
                .collect(Collectors.toMap(v -> v.getSpec().getName(), Vm::getHomeHost)), "every VM on its host");
        assertEquals(cacheUuid, runningDomain("hv2", "cache").getUuid(), "cache kept running on hv2");

        // The agents never enrolled again: same certificates, and no join token was made for the new controller.
        Map<String, byte[]> now = agentCertificates();
        for (String host : HOSTS) {
            assertArrayEquals(agentCertificates.get(host), now.get(host), host + "'s certificate is the one it had");
        }
        // The operators' credentials of the old machine still work: the CLI as an admin and as an operator types it.
        CliRun hosts = CliRun.as(controller.endpoint(), adminPem, "hosts");
        assertEquals(0, hosts.code(), hosts.toString());
        for (String host : HOSTS) {
            assertTrue(hosts.out().lines().anyMatch(l -> l.startsWith(host + " ") && l.contains("ready")), hosts.out());
        }
        // Drift: once every host has synced the restored repository's commit, nothing differs.
        await("drift clean", () -> CliRun.as(controller.endpoint(), adminPem, "drift", "--exit-code").code() == 0);
        CliRun drift = CliRun.as(controller.endpoint(), adminPem, "drift", "--exit-code");
        assertEquals(0, drift.code(), drift.toString());

        // The claims came from the backup: none had to be released or made again at start.
        String log = controller.logTail(100_000);
        assertFalse(log.contains("released the claim") || log.contains("restored the claim"), log);
        assertFalse(log.contains("with join token"), "nobody enrolled with the restored controller");
        Map<String, String> claims = claims(newData.resolve("claims"));
        assertEquals(Map.of("db", "hv2", "cache", "hv2", "web", "hv1"), claims, "claims journal (cache's followed its record)");

        List<VmProgress> fresh = create(spec("api", "hv2"));
        assertEquals("done", last(fresh), fresh.toString());
        awaitConverged("api", "hv2");
        // Until hv1 has pulled the commit that records api, it is behind: that is drift too, for a moment.
        await("drift clean after the new create", () -> CliRun.as(controller.endpoint(), adminPem, "drift", "--exit-code").code() == 0);
        assertFalse(log.contains(" SEVERE "), "the restored controller logged no error");

        // ---- and once more, on a machine with another address ----
        // Agents know the controller by the identity in its certificate, not by its address: changing their
        // controller setting and restarting them is all it takes, with no join token and no new certificate.
        controller.close();
        assertEquals(0, controller.awaitExit(Duration.ofSeconds(20)));
        startController(new ControllerJvm.Settings(newData, 0, HEARTBEAT, HEARTBEAT.multipliedBy(10), RECONCILE, Map.of())
                .withListenHost("127.0.0.2"));
        for (String host : HOSTS) {
            agents.remove(host).close();
            startAgent(host, controller.endpoint(), null); // the agent's state directory holds its certificate
        }
        awaitHostsReady();
        // Each agent's libvirt test-driver node was new with its restart (a test-driver connection's state is its
        // own): the reconciler defines and starts every VM there again, as it would on a reinstalled host.
        for (Map.Entry<String, String> vm : Map.of("db", "hv2", "cache", "hv2", "web", "hv1", "api", "hv2").entrySet()) {
            awaitConverged(vm.getKey(), vm.getValue());
        }
        now = agentCertificates();
        for (String host : HOSTS) {
            assertArrayEquals(agentCertificates.get(host), now.get(host), host + " kept its certificate");
        }
        await("drift clean at the new address", () -> CliRun.as(controller.endpoint(), adminPem, "drift", "--exit-code").code() == 0);
        assertFalse(controller.logTail(100_000).contains("with join token"), "nobody enrolled:\n" + controller.logTail(60));
    }

    // ---- the fleet -----------------------------------------------------------------------------------------

    private void startController(ControllerJvm.Settings settings) throws IOException {
        controller = ControllerJvm.start(settings, work.resolve("controller-" + (controllers.size() + 1) + ".log"));
        controllers.add(controller);
        if (admin == null) {
            admin = Clients.as(settings.dataDir().resolve("pki").resolve("admin.pem"));
        }
        operator = FleetGrpc.newBlockingStub(admin.controller(controller.endpoint()));
    }

    private void startAgents() throws Exception {
        String ns1 = namespaces.create("hv1");
        String ns2 = namespaces.create("hv2");
        namespaces.cable(ns1, "10.249.32.1/24", ns2, "10.249.32.2/24", "ul0");
        Map<String, String> hostNamespace = Map.of("hv1", ns1, "hv2", ns2);
        for (String host : HOSTS) {
            namespace.put(host, hostNamespace.get(host));
            String token = operator.withDeadlineAfter(30, TimeUnit.SECONDS).createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setHostName(host).setTtlSeconds(600).build()).getToken();
            startAgent(host, controller.endpoint(), token);
        }
        awaitHostsReady();
    }

    /** @param token a join token, or null for an agent that enrolled before (its certificate is in its state) */
    private void startAgent(String host, io.virtfleet.common.validation.Endpoint controllerAt, String token) throws Exception {
        TestDriverNode node = new TestDriverNode(host, 16, 65536);
        String uri = node.writeTo(work.resolve("nodes"));
        Path state = work.resolve("agents").resolve(host);
        Files.createDirectories(state.resolve("images"));
        Path noCeph = work.toAbsolutePath().resolve("no-ceph");
        CephSettings ceph = CephSettings.defaults();
        AgentConfig config = new AgentConfig(host, controllerAt, new InetSocketAddress("127.0.0.1", 0), null,
                uri, HEARTBEAT, HEARTBEAT.multipliedBy(4), state.resolve("images"), state, List.of("raw"), token, null,
                new CephSettings(noCeph.resolve("ceph.conf"), ceph.client(), noCeph.resolve("keyring"), ceph.ssdPool(),
                        ceph.sataPool(), ceph.timeout()),
                "ul0", null, 4789, "br0", state.resolve("definitions"), null,
                io.virtfleet.agent.hypervisor.InstallerFiles.PACKAGE_DIRECTORY, null);
        NetworkSettings inNamespace = NetworkSettings.ofHost("ul0", null, 4789, "br0").inNamespace(namespace.get(host));
        Agent agent = Agent.create(config, binder -> {
            binder.bind(NetworkSettings.class).toInstance(inNamespace);
            binder.bind(Agent.API_INTERCEPTORS).toInstance(List.of(hang));
        });
        agents.put(host, agent);
        agent.start();
    }

    /** Each agent's credentials as enrollment wrote them into its state directory. */
    private Map<String, byte[]> agentCertificates() throws IOException {
        Map<String, byte[]> out = new TreeMap<>();
        for (String host : HOSTS) {
            out.put(host, Files.readAllBytes(work.resolve("agents").resolve(host).resolve("agent.pem")));
        }
        return out;
    }

    private static VmSpec spec(String name, String host) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(2 * GIB)
                .setMemoryBytes(GIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("api")
                .setPinnedHost(host).build();
    }

    private List<VmProgress> create(VmSpec spec) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(CONVERGE.toSeconds(), TimeUnit.SECONDS)
                .createVm(CreateVmRequest.newBuilder().setSpec(spec).build()).forEachRemaining(steps::add);
        return steps;
    }

    private static String last(List<VmProgress> steps) {
        return steps.isEmpty() ? "(nothing)" : steps.get(steps.size() - 1).getStep();
    }

    /** {@code virtfleet-controller ARGS...} in this JVM: its exit code and what it printed. */
    private record Run(int code, String out, String err) {}

    private static Run controllerCommand(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new ControllerMain());
        cli.registerConverter(Duration.class, io.virtfleet.common.units.Durations::parse); // as ConfiguredCommand does
        cli.setOut(new PrintWriter(out)).setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /**
     * {@code virtfleet-controller restore --from ARCHIVE --data-dir DIR}; run as root (as in CI), the files are given
     * to root, the only user this machine is sure to have (the package's service user is not installed here).
     */
    private static Run restore(Path archive, Path dataDir, String... more) throws IOException {
        List<String> args = new ArrayList<>(List.of("restore", "--from", archive.toString(), "--data-dir", dataDir.toString()));
        args.addAll(List.of(more));
        if (runsAsRoot()) {
            args.addAll(List.of("--owner", "root"));
        }
        return controllerCommand(args.toArray(String[]::new));
    }

    private static boolean runsAsRoot() throws IOException {
        return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
    }

    // ---- waiting -------------------------------------------------------------------------------------------

    private void awaitHostsReady() throws InterruptedException {
        await("both hosts registered and ready", () -> hosts().stream().filter(h -> h.getState() == HostState.HOST_STATE_READY
                && !h.getReport().getVxlanAddress().isEmpty()).count() == HOSTS.size());
    }

    private void awaitConverged(String vm, String host) throws InterruptedException {
        await(vm + " ready and running on " + host, () -> vms().stream().anyMatch(v -> v.getSpec().getName().equals(vm)
                && v.getHomeHost().equals(host) && v.getPhase() == VmPhase.VM_PHASE_READY)
                && domains(host).stream().anyMatch(d -> d.getName().equals(vm) && d.getState() == DomainState.DOMAIN_STATE_RUNNING));
    }

    /** The controller may still be starting or the operator's channel reconnecting: UNAVAILABLE is "not yet". */
    private void await(String what, BooleanSupplier done) throws InterruptedException {
        try {
            io.virtfleet.controller.testkit.Await.until(what, CONVERGE, () -> {
                try {
                    return done.getAsBoolean();
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
                        throw e;
                    }
                    return false;
                }
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + controller.logTail(40), e);
        }
    }

    private List<Host> hosts() {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
    }

    private List<Vm> vms() {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).listVms(ListVmsRequest.getDefaultInstance()).getVmsList();
    }

    private List<DomainInfo> domains(String host) {
        return hosts().stream().filter(h -> h.getName().equals(host)).flatMap(h -> h.getReport().getDomainsList().stream())
                .toList();
    }

    private DomainInfo runningDomain(String host, String vm) {
        DomainInfo d = domains(host).stream().filter(x -> x.getName().equals(vm)).findFirst()
                .orElseThrow(() -> new AssertionError(vm + " not on " + host + ": " + domains(host)));
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, d.getState(), vm + " on " + host);
        return d;
    }

    /** The claims in force as the journal says, VM to host ({@code + vm host ...} claims, {@code - vm} releases). */
    private static Map<String, String> claims(Path journal) throws IOException {
        Map<String, String> live = new TreeMap<>();
        for (String line : Files.readAllLines(journal, StandardCharsets.US_ASCII)) {
            String[] f = line.split(" ");
            if (f[0].equals("+")) {
                live.put(f[1], f[2]);
            } else if (f[0].equals("-")) {
                live.remove(f[1]);
            }
        }
        return live;
    }
}
