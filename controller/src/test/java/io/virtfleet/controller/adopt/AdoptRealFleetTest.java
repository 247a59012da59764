package io.virtfleet.controller.adopt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.process.Command;
import io.virtfleet.controller.testkit.CliRun;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.testkit.MoveFleet;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.revwalk.RevCommit;
import org.junit.jupiter.api.AfterAll;
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
import org.libvirt.Secret;

/**
 * {@code virtfleet adopt} on a fleet the runbook built, by the runbook's own procedure, on real components
 * ({@link MoveFleet}: three libvirtds in network namespaces running QEMU/TCG, a real single-node Ceph, agent JVMs, the
 * controller in its own JVM). Before virtfleet's agents start, each VM is made as the runbook says: {@code qemu-img
 * create -f rbd rbd:<pool>/<vm>}, hand-written XML defined with {@code virsh define} and started, the XML committed to
 * the runbook's repository and pushed, and on every other host {@code git pull} and {@code virsh define} of it. The
 * hosts' /srv/common is that repository's clone (the agents' definitions directory). The libvirt secret and the LAN's
 * VXLAN are made by hand too (the runbook never wrote down how; they are made here as virtfleet names them).
 *
 * <p>Then adopt takes the VMs over with no QEMU restarted (their pids are the same before and after), drift is clean,
 * and an adopted VM moves live and another stops. Domains it cannot adopt (a disk outside the images directory, a name
 * running on two hosts, a {@code <qemu:commandline>}, an unknown device) are refused with the reason and left
 * untouched: no record, claim or commit, and defined nowhere else.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
@Timeout(value = 12, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdoptRealFleetTest {
    private static final List<String> HOSTS = List.of("hv1", "hv2", "hv3");
    private static final String UNDERLAY = "10.249.30";
    private static final Duration HEARTBEAT = Duration.ofMillis(250);
    private static final Duration CONVERGE = Duration.ofSeconds(90);
    private static final String SECRET_USAGE = "client.libvirt secret";
    /**
     * The agents' grace for a guest asked to shut down: the guests boot nothing and ignore ACPI's power button, so a
     * stop waits all of it before the agent destroys the domain; the default minute would be waited for nothing.
     */
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);

    @TempDir
    static Path work;

    private static MoveFleet fleet;
    private static HypervisorRack rack;
    private static FleetGrpc.FleetBlockingStub operator;
    private static Path central;
    /** Each runbook VM's QEMU pid on its host, before virtfleet is started. */
    private static final Map<String, Long> pidsBefore = new TreeMap<>();
    private static final Map<String, String> homes = Map.of("web", "hv1", "db", "hv2");
    /** The hostile domains' hosts, and what each one's refusal must name. */
    private static final Map<String, String> hostileHomes = Map.of("passthrough", "hv3", "smartcard", "hv1");
    private static final Map<String, String> hostileReasons = Map.of("passthrough", "<qemu:commandline>",
            "smartcard", "unknown device <smartcard>");
    /** Their definitions (DISK: a raw disk in their host's images directory), each otherwise one adopt takes. */
    private static final Map<String, String> hostile = Map.of(
            "passthrough", domainXml("passthrough", UUID.randomUUID().toString(), "DISK", "52:54:00:0a:00:05")
                    .replace("<domain type='qemu'>", "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>")
                    .replace("</domain>", "  <qemu:commandline><qemu:arg value='-set'/><qemu:arg"
                            + " value='device.net0.romfile=/tmp/anything.rom'/></qemu:commandline>\n</domain>"),
            "smartcard", domainXml("smartcard", UUID.randomUUID().toString(), "DISK", "52:54:00:0a:00:06")
                    .replace("    <serial type='pty'/>", "    <smartcard mode='host'/>\n    <serial type='pty'/>"));

    @BeforeAll
    static void aFleetTheRunbookBuiltThenVirtfleetInstalledOnIt() throws Exception {
        fleet = MoveFleet.start(work, UNDERLAY, HOSTS, HEARTBEAT, Duration.ofSeconds(3), CONVERGE, AdoptRealFleetTest::lap, r -> {
            try {
                runbook(r);
            } catch (Exception e) {
                throw new IllegalStateException("the runbook's procedure failed: " + e.getMessage(), e);
            }
            return Map.of();
        }, host -> List.of("--shutdown-grace", SHUTDOWN_GRACE.toSeconds() + "s"));
        rack = fleet.rack();
        operator = fleet.operator();
        lap("fleet ready");
    }

    @AfterAll
    static void stopEverything() throws Exception {
        // The controller's and the agents' logs outlive the temporary directory, for a failure's diagnosis.
        Path logs = Files.createDirectories(Path.of("target", "adopt-real-fleet-logs"));
        try (var files = Files.walk(work)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".log") && Files.isRegularFile(p)).toList()) {
                Files.copy(f, logs.resolve(work.relativize(f).toString().replace('/', '_')),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    // ---- the runbook, by hand -----------------------------------------------------------------------------------

    /** Everything the runbook's operators did, host by host, before anyone installed virtfleet. */
    private static void runbook(HypervisorRack r) throws Exception {
        rack = r;
        // The central git server's repository, as it was long before: a first commit of the runbook's own.
        Path seed = work.resolve("seed");
        try (Git git = Git.init().setDirectory(seed.toFile()).setInitialBranch("master").call()) {
            Files.writeString(seed.resolve("README"), "hypervisor configuration, see the runbook\n");
            git.add().addFilepattern("README").call();
            git.commit().setMessage("start").setAuthor("ops", "ops@example.com").call();
        }
        central = work.resolve("central.git");
        Git.cloneRepository().setBare(true).setURI("file://" + seed).setDirectory(central.toFile()).call().close();
        for (HypervisorRack.Host h : r.hosts()) {
            Path srvCommon = h.stateDir().resolve("definitions");
            Git.cloneRepository().setURI("file://" + central).setDirectory(srvCommon.toFile()).call().close();
            secretByHand(h);
            lanByHand(h, 10);
        }
        // web: sata, LAN 10, made on hv1 and replicated; db: ssd, LAN 10, made on hv2 and replicated.
        vmByHand("web", "libvirt-sata", "hv1", "52:54:00:0a:00:01");
        vmByHand("db", "libvirt-ssd", "hv2", "52:54:00:0a:00:02");
        // Made by hand too, but not the runbook's way: a disk outside the images directory, and one name running on
        // two hosts (each with a raw disk of its own).
        Path outside = work.resolve("outside.img");
        run("qemu-img", "create", "-q", "-f", "raw", outside.toString(), "1G");
        virsh(rack.host("hv3"), "define", write("odd", domainXml("odd", UUID.randomUUID().toString(),
                "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + outside + "'/>"
                        + "<target dev='vda' bus='virtio'/></disk>", "52:54:00:0a:00:03")).toString());
        String twin = UUID.randomUUID().toString();
        for (String host : List.of("hv2", "hv3")) {
            HypervisorRack.Host h = rack.host(host);
            Path image = Files.createDirectories(h.stateDir().resolve("images")).resolve("twin.img");
            run("qemu-img", "create", "-q", "-f", "raw", image.toString(), "1G");
            Path xml = write("twin-" + host, domainXml("twin", twin, "<disk type='file' device='disk'><driver name='qemu'"
                    + " type='raw'/><source file='" + image + "'/><target dev='vda' bus='virtio'/></disk>",
                    "52:54:00:0a:00:04"));
            virsh(h, "define", xml.toString());
            virsh(h, "start", "twin");
        }
        // Two more made by hand and never started, each adoptable but for one thing: QEMU arguments passed past libvirt,
        // and a device virtfleet's VMs do not have (a host smartcard reader). libvirt keeps both as written.
        for (Map.Entry<String, String> vm : hostile.entrySet()) {
            HypervisorRack.Host h = rack.host(hostileHomes.get(vm.getKey()));
            Path image = Files.createDirectories(h.stateDir().resolve("images")).resolve(vm.getKey() + ".img");
            run("qemu-img", "create", "-q", "-f", "raw", image.toString(), "1G");
            String disk = "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + image
                    + "'/><target dev='vda' bus='virtio'/></disk>";
            virsh(h, "define", write(vm.getKey(), vm.getValue().replace("DISK", disk)).toString());
        }
        for (String vm : homes.keySet()) {
            pidsBefore.put(vm, qemuPid(homes.get(vm), vm));
        }
        pidsBefore.put("twin@hv2", qemuPid("hv2", "twin"));
        if (pidsBefore.values().stream().anyMatch(pid -> pid <= 0)) {
            throw new IllegalStateException("a runbook VM's QEMU was not found: " + pidsBefore);
        }
        lap("the runbook's fleet: " + pidsBefore);
    }

    /** Step 2, 4 and 5 of the runbook for one VM. */
    private static void vmByHand(String vm, String pool, String home, String mac) throws Exception {
        CephAccess ceph = CephAccess.of(rack);
        run("qemu-img", "create", "-f", "rbd", "rbd:" + pool + "/" + vm + ":id=libvirt:conf=" + ceph.conf + ":keyring="
                + ceph.keyring, "1G");
        String xml = domainXml(vm, UUID.randomUUID().toString(), "<disk type='network' device='disk'>"
                + "<driver name='qemu' type='raw' cache='none'/><auth username='libvirt'><secret type='ceph' usage='"
                + SECRET_USAGE + "'/></auth><source protocol='rbd' name='" + pool + "/" + vm + "'><host name='"
                + ceph.monitorHost + "' port='" + ceph.monitorPort + "'/></source><target dev='vda' bus='virtio'/></disk>",
                mac);
        HypervisorRack.Host h = rack.host(home);
        Path srvCommon = h.stateDir().resolve("definitions");
        Path file = Files.createDirectories(srvCommon.resolve("etc/libvirt/qemu")).resolve(vm + ".xml");
        Files.writeString(file, xml);
        virsh(h, "define", file.toString());
        virsh(h, "start", vm);
        try (Git git = Git.open(srvCommon.toFile())) {
            git.add().addFilepattern("etc/libvirt/qemu/" + vm + ".xml").call();
            git.commit().setAll(true).setMessage(vm + ": " + pool + ", vxlan 10").setAuthor("ops", "ops@example.com").call();
            git.push().call();
        }
        for (HypervisorRack.Host other : rack.hosts()) {
            if (other.name().equals(home)) {
                continue;
            }
            Path clone = other.stateDir().resolve("definitions");
            try (Git git = Git.open(clone.toFile())) {
                git.pull().call();
            }
            virsh(other, "define", clone.resolve("etc/libvirt/qemu/" + vm + ".xml").toString());
        }
    }

    /** What the runbook's helper script wrote: a small TCG guest on LAN 10 that boots nothing. */
    private static String domainXml(String vm, String uuid, String disk, String mac) {
        return "<domain type='qemu'>\n  <name>" + vm + "</name>\n  <uuid>" + uuid + "</uuid>\n"
                + "  <memory unit='MiB'>256</memory>\n  <vcpu>1</vcpu>\n"
                + "  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>\n"
                + "  <features><acpi/></features>\n  <on_poweroff>destroy</on_poweroff>\n"
                + "  <devices>\n    " + disk + "\n"
                + "    <interface type='bridge'><mac address='" + mac + "'/><source bridge='vxbr10'/>"
                + "<model type='virtio'/></interface>\n"
                + "    <serial type='pty'/><console type='pty'/>\n  </devices>\n</domain>\n";
    }

    private static Path write(String name, String xml) throws Exception {
        Path file = work.resolve("by-hand").resolve(name + ".xml");
        Files.createDirectories(file.getParent());
        Files.writeString(file, xml);
        return file;
    }

    /** virsh secret-define + secret-set-value, through libvirt's API. */
    private static void secretByHand(HypervisorRack.Host h) throws Exception {
        String key = CephAccess.of(rack).key;
        Connect c = h.libvirt();
        try {
            Secret s = c.secretDefineXML("<secret ephemeral='no' private='yes'><usage type='ceph'><name>" + SECRET_USAGE
                    + "</name></usage></secret>");
            s.setValue(Base64.getDecoder().decode(key));
            s.free();
        } finally {
            c.close();
        }
    }

    /** The LAN's VXLAN and bridge in the host's namespace, as virtfleet names them (vxlan<N> in vxbr<N>). */
    private static void lanByHand(HypervisorRack.Host h, int lan) {
        String ns = h.namespace();
        run("ip", "-n", ns, "link", "add", "vxbr" + lan, "type", "bridge");
        run("ip", "-n", ns, "link", "add", "vxlan" + lan, "type", "vxlan", "id", Integer.toString(lan), "dstport", "4789",
                "dev", "ul0", "local", h.address());
        run("ip", "-n", ns, "link", "set", "vxlan" + lan, "master", "vxbr" + lan);
        run("ip", "-n", ns, "link", "set", "vxlan" + lan, "up");
        run("ip", "-n", ns, "link", "set", "vxbr" + lan, "up");
    }

    private static void virsh(HypervisorRack.Host h, String... args) {
        List<String> argv = new ArrayList<>(List.of("virsh", "-c", h.node().uri()));
        argv.addAll(List.of(args));
        run(argv.toArray(String[]::new));
    }

    private static String run(String... argv) {
        Command.Result r = Command.of(argv).timeout(Duration.ofMinutes(2)).run();
        if (r.exitCode() != 0) {
            throw new IllegalStateException(String.join(" ", argv) + ": " + r.reason() + " " + r.stderr());
        }
        return r.stdout();
    }

    /** How the runbook's operators reached Ceph: the cluster's conf, the libvirt client's keyring and key. */
    private record CephAccess(Path conf, Path keyring, String key, String monitorHost, String monitorPort) {
        static CephAccess of(HypervisorRack r) throws Exception {
            Matcher m = Pattern.compile("key\\s*=\\s*(\\S+)").matcher(Files.readString(r.ceph().clientKeyring()));
            if (!m.find()) {
                throw new IllegalStateException("no key in " + r.ceph().clientKeyring());
            }
            String[] monitor = r.ceph().monitor().split(":");
            return new CephAccess(r.ceph().conf(), r.ceph().clientKeyring(), m.group(1), monitor[0], monitor[1]);
        }
    }

    // ---- the scenario ------------------------------------------------------------------------------------------

    @Test
    @Order(1)
    void theDryRunFromTheRunbooksRepositorySaysWhatWouldHappenAndChangesNothing() throws Exception {
        awaitReported("web", "hv1");
        awaitReported("db", "hv2");
        CliRun dry = cli("adopt", "--from-repo", central.toString(), "--dry-run", "-o", "json");
        assertEquals(ExitCode.OK, dry.code(), dry.out() + dry.err());
        JsonObject answer = JsonParser.parseString(dry.out()).getAsJsonObject();
        Map<String, JsonObject> byVm = byVm(answer);
        assertEquals(List.of("db", "web"), List.copyOf(byVm.keySet()), "the runbook's VMs only: " + dry.out());
        JsonObject web = byVm.get("web");
        assertTrue(web.get("adopted").getAsBoolean(), dry.out());
        assertEquals("hv1", web.get("home_host").getAsString());
        assertEquals("STORAGE_TIER_SATA", web.getAsJsonObject("spec").get("storage").getAsString());
        assertEquals(1L << 30, web.getAsJsonObject("spec").get("disk_bytes").getAsLong(), "the image's real size");
        assertEquals(10, web.getAsJsonObject("spec").getAsJsonObject("network").get("lan").getAsInt());
        assertEquals("vxbr10 52:54:00:0a:00:01", web.get("network").getAsString());
        assertEquals(List.of("hv2", "hv3"), strings(web.getAsJsonArray("replica_hosts")));
        assertEquals("STORAGE_TIER_SSD", byVm.get("db").getAsJsonObject("spec").get("storage").getAsString());
        assertEquals(0, operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsCount(), "nothing recorded");

        CliRun text = cli("adopt", "--dry-run");
        assertEquals(ExitCode.SOME_REFUSED, text.code(), text.out() + text.err());
        assertTrue(text.out().contains("Dry run: nothing was changed."), text.out());
        assertTrue(text.out().contains("would adopt"), text.out());
        for (String vm : List.of("odd", "passthrough", "smartcard")) {
            String row = row(text.out(), vm);
            assertTrue(row.contains(" refused "), "the dry run lists " + vm + " as refused: " + text.out());
        }
        assertTrue(row(text.out(), "odd").contains("outside.img"), text.out());
        for (String vm : hostile.keySet()) {
            assertTrue(row(text.out(), vm).contains(hostileReasons.get(vm)), "the reason, naming it: " + text.out());
            assertUntouched(vm);
        }
        lap("dry run:\n" + text.out());
    }

    @Test
    @Order(2)
    void adoptTakesTheRunbooksVmsOverWithoutRestartingThemAndRefusesTheOthersWithTheReason() throws Exception {
        CliRun adopted = cli("adopt", "-o", "json");
        lap("adopt: " + adopted.out() + adopted.err());
        assertEquals(ExitCode.SOME_REFUSED, adopted.code(), adopted.out() + adopted.err());
        Map<String, JsonObject> byVm = byVm(JsonParser.parseString(adopted.out()).getAsJsonObject());
        assertTrue(byVm.get("web").get("adopted").getAsBoolean(), adopted.out());
        assertTrue(byVm.get("db").get("adopted").getAsBoolean(), adopted.out());
        assertFalse(byVm.get("odd").get("adopted").getAsBoolean());
        assertTrue(byVm.get("odd").get("refusal").getAsString().contains("outside.img"), byVm.get("odd").toString());
        assertFalse(byVm.get("twin").get("adopted").getAsBoolean());
        assertTrue(byVm.get("twin").get("refusal").getAsString().contains("runs on hv2 and hv3 at once"),
                byVm.get("twin").toString());
        for (String vm : hostile.keySet()) {
            JsonObject a = byVm.get(vm);
            assertTrue(a != null && !a.get("adopted").getAsBoolean(), vm + " refused: " + adopted.out());
            assertTrue(a.get("refusal").getAsString().contains(hostileReasons.get(vm)), "the reason, naming it: " + a);
            assertTrue(a.get("commit").getAsString().isEmpty(), "no commit: " + a);
        }

        for (Map.Entry<String, String> vm : homes.entrySet()) {
            Vm record = vm(vm.getKey());
            assertEquals(vm.getValue(), record.getHomeHost());
            assertTrue(record.getRunningWanted());
            assertTrue(record.getHistory(0).getOperator().contains("admin"), record.getHistory(0).toString());
        }
        awaitNoDrift();
        // The adopted ones are claimed and committed (so the checks below that the refused ones are not can fail).
        assertTrue(claimed("web") && claimed("db"), "the adopted VMs' claims: " + claimsJournal());
        assertTrue(committed("web") && committed("db"), "the adopted VMs' commits");
        DriftReport drift = operator.withDeadlineAfter(5, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance());
        for (String vm : hostile.keySet()) {
            assertUntouched(vm);
            assertTrue(drift.getDriftsList().stream().anyMatch(d -> d.getVm().equals(vm) && d.getForeign()
                    && d.getHost().equals(hostileHomes.get(vm))), vm + " is still foreign to virtfleet: " + drift);
        }
        for (Map.Entry<String, String> vm : homes.entrySet()) {
            assertEquals(pidsBefore.get(vm.getKey()), qemuPid(vm.getValue(), vm.getKey()),
                    vm.getKey() + "'s QEMU is the one the runbook started: never restarted");
        }
        assertEquals(pidsBefore.get("twin@hv2"), qemuPid("hv2", "twin"), "a refused domain is left alone");
        for (String host : List.of("hv2", "hv3")) {
            assertTrue(defined(host, "web") && !active(host, "web"), "web's replica on " + host);
        }
        try (Git git = Git.open(rack.host("hv1").stateDir().resolve("definitions").toFile())) {
            var branch = git.getRepository().resolve("refs/heads/runbook");
            assertTrue(branch != null, "the runbook's history kept on hv1 as branch runbook");
            List<String> messages = new ArrayList<>();
            for (RevCommit c : git.log().add(branch).call()) {
                messages.add(c.getShortMessage());
            }
            assertTrue(messages.contains("web: libvirt-sata, vxlan 10"), messages.toString());
        }
        CliRun again = cli("adopt");
        assertEquals(ExitCode.SOME_REFUSED, again.code(), again.out());
        assertFalse(again.out().contains("web "), "web is virtfleet's now: " + again.out());
        for (String vm : hostile.keySet()) {
            assertTrue(row(again.out(), vm).contains(hostileReasons.get(vm)), "refused again: " + again.out());
            assertUntouched(vm);
        }
    }

    @Test
    @Order(3)
    void anAdoptedVmMovesLiveAndAnotherStops() throws Exception {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(4, TimeUnit.MINUTES).moveVm(MoveVmRequest.newBuilder().setName("web").build())
                .forEachRemaining(steps::add);
        String to = vm("web").getHomeHost();
        assertNotEquals("hv1", to, steps.toString());
        assertTrue(active(to, "web"), "web runs on " + to);
        assertFalse(active("hv1", "web"), "and no longer on hv1");

        // Stopped through virtfleet alone: the guest boots nothing and ignores ACPI's power button, so the stop must
        // go through the agent's grace (SHUTDOWN_GRACE) and then destroy it; the request returns once that is done.
        assertTrue(qemuPid("hv2", "db") > 0, "db's QEMU runs on hv2 before the stop");
        Vm stopped = operator.withDeadlineAfter(3, TimeUnit.MINUTES).setVmRunning(SetVmRunningRequest.newBuilder()
                .setName("db").setRunning(false).build());
        assertFalse(stopped.getRunningWanted());
        assertEquals(-1, qemuPid("hv2", "db"), "db's QEMU is gone when the stop returns");
        assertFalse(active("hv2", "db"), "libvirt holds db shut off on hv2");
        awaitNoDrift();
        assertEquals(StorageTier.STORAGE_TIER_SSD, vm("db").getSpec().getStorage());
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    /** The text table's row of {@code vm}, or fails. */
    private static String row(String table, String vm) {
        return table.lines().filter(l -> l.startsWith(vm + " ")).findFirst()
                .orElseThrow(() -> new AssertionError("no row for " + vm + " in:\n" + table));
    }

    /**
     * A refused hand-made domain as the runbook's operator left it: defined on its host alone, stopped, with the very
     * thing it was refused for; no record, no claim, no commit of virtfleet's names it.
     */
    private static void assertUntouched(String vm) throws Exception {
        String home = hostileHomes.get(vm);
        for (String host : HOSTS) {
            assertEquals(host.equals(home), defined(host, vm), vm + " defined on " + host + " (its home is " + home + ")");
        }
        assertFalse(active(home, vm), vm + " never started");
        String xml = onHost(home, vm, d -> d.getXMLDesc(0));
        String kept = vm.equals("smartcard") ? "<smartcard mode='host'" : "<qemu:arg value='-set'/>";
        assertTrue(xml.contains(kept), vm + "'s definition as written by hand: " + xml);
        var notFound = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class, () -> vm(vm));
        assertEquals(io.grpc.Status.Code.NOT_FOUND, notFound.getStatus().getCode(), notFound.getStatus().toString());
        assertTrue(operator.listVms(ListVmsRequest.getDefaultInstance()).getVmsList().stream()
                .noneMatch(v -> v.getSpec().getName().equals(vm)), "no record of " + vm);
        assertFalse(claimed(vm), "no claim of " + vm + ": " + claimsJournal());
        assertFalse(committed(vm), "no commit of virtfleet's touched " + vm);
    }

    /** The controller's claim journal, as on its disk. */
    private static String claimsJournal() {
        try {
            Path journal = fleet.settings().dataDir().resolve("claims");
            return Files.exists(journal) ? Files.readString(journal, StandardCharsets.US_ASCII) : "";
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Whether the claim journal's last word on {@code vm} is a claim ("+ vm host ..."). */
    private static boolean claimed(String vm) {
        boolean claimed = false;
        for (String line : claimsJournal().lines().toList()) {
            String[] words = line.split(" ");
            if (words.length >= 2 && words[1].equals(vm)) {
                claimed = words[0].equals("+");
            }
        }
        return claimed;
    }

    /** Whether any commit of the controller's definitions repository touched {@code vm}'s record or definition. */
    private static boolean committed(String vm) throws Exception {
        try (Git git = Git.open(fleet.settings().dataDir().resolve("definitions").toFile())) {
            return git.log().addPath("vms/" + vm + ".json").addPath("etc/libvirt/qemu/" + vm + ".xml").call()
                    .iterator().hasNext();
        }
    }

    private static Map<String, JsonObject> byVm(JsonObject answer) {
        Map<String, JsonObject> out = new TreeMap<>();
        JsonArray list = answer.getAsJsonArray("adoptions");
        if (list != null) {
            for (JsonElement e : list) {
                out.put(e.getAsJsonObject().get("vm").getAsString(), e.getAsJsonObject());
            }
        }
        return out;
    }

    private static List<String> strings(JsonArray a) {
        List<String> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsString()));
        return out;
    }

    private static long qemuPid(String host, String vm) {
        return rack.host(host).node().qemuProcesses().stream()
                .filter(p -> p.info().arguments().map(a -> String.join(" ", a).contains("guest=" + vm + ",")).orElse(false))
                .mapToLong(ProcessHandle::pid).findFirst().orElse(-1);
    }

    private static void awaitReported(String vm, String host) throws InterruptedException {
        await(host + " reports " + vm + " running", () -> operator.withDeadlineAfter(5, TimeUnit.SECONDS)
                .getHost(io.virtfleet.proto.v1.GetHostRequest.newBuilder().setName(host).build()).getReport()
                .getDomainsList().stream().anyMatch(d -> d.getName().equals(vm)
                        && d.getState() == io.virtfleet.proto.v1.DomainState.DOMAIN_STATE_RUNNING));
    }

    private static Vm vm(String name) {
        return operator.withDeadlineAfter(5, TimeUnit.SECONDS).getVm(GetVmRequest.newBuilder().setName(name).build());
    }

    private interface LibvirtCall<T> {
        T apply(Domain d) throws LibvirtException;
    }

    private static <T> T onHost(String host, String vm, LibvirtCall<T> call) {
        try {
            Connect c = rack.host(host).libvirt();
            try {
                Domain d;
                try {
                    d = c.domainLookupByName(vm);
                } catch (LibvirtException notThere) {
                    return null;
                }
                return call.apply(d);
            } finally {
                c.close();
            }
        } catch (LibvirtException e) {
            throw new AssertionError(host + ": " + e.getMessage(), e);
        }
    }

    private static boolean active(String host, String vm) {
        Boolean b = onHost(host, vm, d -> d.isActive() == 1);
        return b != null && b;
    }

    private static boolean defined(String host, String vm) {
        return onHost(host, vm, d -> true) != null;
    }

    /** No drift but the domains virtfleet does not manage (the refused ones), and every host in step. */
    private static void awaitNoDrift() throws InterruptedException {
        DriftReport[] last = new DriftReport[1];
        try {
            await("no drift", () -> {
                last[0] = operator.withDeadlineAfter(5, TimeUnit.SECONDS).getDrift(GetDriftRequest.getDefaultInstance());
                return last[0].getDriftsList().stream().allMatch(d -> d.getForeign())
                        && last[0].getHostsList().stream().noneMatch(h -> h.getBehind());
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nlast drift report: " + last[0], e);
        }
    }

    private static CliRun cli(String... args) {
        return CliRun.as(fleet.controller().endpoint(), fleet.adminBundle(), args);
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        fleet.await(what, CONVERGE, done);
    }

    private static void lap(String what) {
        System.out.println("[AdoptRealFleetTest] " + what);
    }
}
