package io.virtfleet.controller.definitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.common.install.InstallToken;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.StepResult.Outcome;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The controller defining, starting, stopping and undefining domains through an agent's real gRPC API
 * (mutual TLS, the controller's identity), on the agent's libvirt test-driver node; what the agent did is
 * checked in libvirt's view, both asked directly and as the controller's fleet API shows it.
 */
class DomainCommandsTest {
    private static final String HOST = "hv1";
    /** Slow polling on purpose: changes must show within {@link #SOON} because the agent polls after each. */
    private static final Duration HEARTBEAT = Duration.ofSeconds(3);
    private static final Duration SOON = Duration.ofMillis(1500);

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients asController;
    private Clients asAdmin;
    private AgentGrpc.AgentBlockingStub agent;
    private FleetGrpc.FleetBlockingStub operator;
    private DomainXml renderer;

    @BeforeEach
    void startFleet() throws Exception {
        fleet = EmbeddedFleet.builder(work).heartbeat(HEARTBEAT).grace(HEARTBEAT.multipliedBy(5))
                .nodes(List.of(new TestDriverNode(HOST, 8, 16 * 1024).domain("legacy", 1, 512, true)))
                .build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        asController = Clients.as(fleet.controller().pki().credentials());
        agent = AgentGrpc.newBlockingStub(asController.agent(new Endpoint("127.0.0.1", fleet.agent(HOST).port()), HOST));
        asAdmin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(asAdmin.controller(fleet.controllerEndpoint()));
        Path images = fleet.agentConfig(HOST, work.resolve("agents").resolve(HOST)).imagesDirectory();
        renderer = new DomainXml(DomainSettings.defaults().withDomainType(DomainSettings.QEMU).withImagesDirectory(images));
    }

    @AfterEach
    void stopFleet() {
        asController.close();
        asAdmin.close();
        fleet.close();
    }

    @Test
    void aDefinedDomainIsListedAndDefiningItAgainChangesNothing() throws Exception {
        String xml = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA));
        StepResult first = define("git", xml, false);
        assertEquals(Outcome.OUTCOME_CHANGED, first.getOutcome(), first.getDetail());
        assertTrue(first.getDetail().startsWith("defined git (UUID " + DomainIdentity.uuid("git") + ")"), first.getDetail());
        DomainInfo listed = awaitDomain("git", d -> d.getState() == DomainState.DOMAIN_STATE_SHUTOFF);
        assertEquals(DomainIdentity.uuid("git").toString(), listed.getUuid());
        assertTrue(listed.getPersistent());
        assertFalse(listed.getAutostart());
        assertEquals(2 * Bytes.GIB, listed.getMaxMemoryBytes());

        StepResult again = define("git", xml, false);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, again.getOutcome(), again.getDetail());
        assertEquals("git already defined as given; autostart off", again.getDetail());

        StepResult autostart = define("git", xml, true);
        assertEquals(Outcome.OUTCOME_CHANGED, autostart.getOutcome());
        assertEquals("git already defined as given; autostart turned on (started by the agent at boot)",
                autostart.getDetail());
        awaitDomain("git", d -> d.getAutostart() && !d.getLibvirtAutostart());
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, define("git", xml, true).getOutcome());

        String bigger = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA).toBuilder().setMemoryBytes(3 * Bytes.GIB).build());
        StepResult redefined = define("git", bigger, true);
        assertEquals(Outcome.OUTCOME_CHANGED, redefined.getOutcome());
        assertEquals("redefined git: its definition differed; autostart on (started by the agent at boot)",
                redefined.getDetail());
        awaitDomain("git", d -> d.getMaxMemoryBytes() == 3 * Bytes.GIB);
        awaitInFleetView("git", d -> d.getMaxMemoryBytes() == 3 * Bytes.GIB && d.getAutostart());
    }

    @Test
    void aDefinitionWithoutUuidKeepsTheDomainsUuidWhenDefinedAgain() throws Exception {
        String withoutUuid = renderer.render(spec("db", StorageTier.STORAGE_TIER_SSD)).replaceFirst("\\s*<uuid>[0-9a-f-]{36}</uuid>", "");
        assertFalse(withoutUuid.contains("<uuid>"), withoutUuid);
        assertEquals(Outcome.OUTCOME_CHANGED, define("db", withoutUuid, false).getOutcome());
        String uuid = awaitDomain("db", d -> true).getUuid();
        assertNotEquals(DomainIdentity.uuid("db").toString(), uuid, "libvirt made one up");

        StepResult again = define("db", withoutUuid, false);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, again.getOutcome(), again.getDetail());
        assertEquals(uuid, describe("db").orElseThrow().getUuid());
    }

    @Test
    void aDomainStartsStopsAndIsUndefinedOnlyWhenNotRunning() throws Exception {
        define("web", renderer.render(spec("web", StorageTier.STORAGE_TIER_RAW)), false);

        assertEquals(Outcome.OUTCOME_CHANGED, running("web", true, 0).getOutcome());
        awaitDomain("web", d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING);
        StepResult again = running("web", true, 0);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, again.getOutcome());
        assertEquals("web is already running", again.getDetail());

        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> agent.undefineDomain(UndefineDomainRequest.newBuilder().setVmName("web").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().startsWith("web is running: stop it first"), refused.getStatus().getDescription());
        assertEquals(DomainState.DOMAIN_STATE_RUNNING, describe("web").orElseThrow().getState(), "left running and defined");

        StepResult stopped = running("web", false, 5_000);
        assertEquals(Outcome.OUTCOME_CHANGED, stopped.getOutcome());
        assertTrue(stopped.getDetail().startsWith("web shut down cleanly in "), stopped.getDetail());
        awaitDomain("web", d -> d.getState() == DomainState.DOMAIN_STATE_SHUTOFF);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, running("web", false, 0).getOutcome());

        StepResult undefined = agent.undefineDomain(UndefineDomainRequest.newBuilder().setVmName("web").build());
        assertEquals(Outcome.OUTCOME_CHANGED, undefined.getOutcome());
        assertEquals("undefined web", undefined.getDetail());
        awaitGone("web");
        StepResult absent = agent.undefineDomain(UndefineDomainRequest.newBuilder().setVmName("web").setForce(true).build());
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, absent.getOutcome());
        assertEquals("web is not defined", absent.getDetail());

        for (boolean run : List.of(true, false)) {
            StatusRuntimeException missing = assertThrows(StatusRuntimeException.class, () -> running("web", run, 0));
            assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
            assertEquals("web is not defined on this host: define it first (DefineDomain)", missing.getStatus().getDescription());
        }
    }

    @Test
    void forceDestroysARunningDomainBeforeUndefiningIt() throws Exception {
        define("api", renderer.render(spec("api", StorageTier.STORAGE_TIER_SSD)), true);
        running("api", true, 0);
        awaitDomain("api", d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING);
        StepResult forced = agent.undefineDomain(UndefineDomainRequest.newBuilder().setVmName("api").setForce(true).build());
        assertEquals(Outcome.OUTCOME_CHANGED, forced.getOutcome());
        assertEquals("destroyed and undefined api", forced.getDetail());
        awaitGone("api");
        awaitInFleetView("the fleet no longer lists api", h -> true, "api", false);
    }

    @Test
    void aDefinitionForAnotherNameOrWithADoctypeIsRefusedAndNothingIsDefined() throws Exception {
        String git = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA));
        assertInvalid(define("other", git), "domain_xml.name: \"git\" is not accepted; expected the name the request is for, \"other\"");

        Path secret = Files.writeString(work.resolve("secret.txt"), "TOP-SECRET");
        String xxe = "<?xml version=\"1.0\"?><!DOCTYPE domain [<!ENTITY s SYSTEM \"file://" + secret + "\">]>"
                + git.replace("<name>git</name>", "<name>&s;</name>");
        String message = assertInvalid(define("git", xxe), "domain_xml: ");
        assertTrue(message.contains("DOCTYPE"), message);
        assertFalse(message.contains("TOP-SECRET"), message);
        String laughs = "<!DOCTYPE domain [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
                + git.replace("<uuid>", "<description>&b;</description><uuid>");
        assertInvalid(define("git", laughs), "domain_xml: ");

        assertInvalid(define("$(reboot)", git), "vm_name: \"$(reboot)\" is not accepted");
        assertInvalid(define("git", "<network><name>git</name></network>"), "domain_xml: ");
        assertInvalid(define("git", git.replace("</name>", "</name><uuid>not-a-uuid</uuid>").replaceFirst("<uuid>[0-9a-f-]{36}</uuid>", "")),
                "domain_xml.uuid: \"not-a-uuid\"");
        assertInvalid(call(() -> running("git", false, -1)), "shutdown_timeout_ms: \"-1\" is not accepted");

        assertTrue(describe("git").isEmpty() && describe("other").isEmpty(), "nothing was defined");
    }

    @Test
    void aDefinitionThatReachesBeyondItsOwnDiskIsRefused() {
        String git = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA));
        String raw = renderer.render(spec("web", StorageTier.STORAGE_TIER_RAW));
        Path images = fleet.agentConfig(HOST, work.resolve("agents").resolve(HOST)).imagesDirectory();

        assertInvalid(define("git", git.replace("<devices>", "<devices><emulator>/bin/sh</emulator>")), "<emulator>");
        assertInvalid(define("web", raw.replace(images.resolve("web.img").toString(), "/etc/shadow")), "\"/etc/shadow\"");
        assertInvalid(define("web", raw.replace(images.resolve("web.img").toString(), images.resolve("git.img").toString())),
                "its own image");
        assertInvalid(define("git", git.replace("libvirt-sata/git", "libvirt-sata/other-vm")), "rbd:libvirt-sata/other-vm");
        assertInvalid(define("git", git.replace("<domain type=\"qemu\">",
                "<domain type=\"qemu\" xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\">")
                .replace("</devices>", "</devices><qemu:commandline><qemu:arg value=\"-runas\"/></qemu:commandline>")),
                "other namespaces");
        assertInvalid(define("git", git.replace("<serial type=\"pty\">", "<serial type=\"file\"><source path=\"/root/.ssh/authorized_keys\"/>")),
                "\"/root/.ssh/authorized_keys\"");
        assertTrue(describe("git").isEmpty() && describe("web").isEmpty(), "nothing was defined");
    }

    @Test
    void aKernelBootMayOnlyBootTheHostsInstallerFromTheDomainsOs() throws Exception {
        InstallerFiles debian = hostInstaller();
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        String installer = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA), Boot.kernel("auto=true priority=critical")
                .withFiles(debian.kernel().toString(), debian.initrd().toString()));

        assertInvalid(define("git", installer.replace(debian.kernel().toString(), "/etc/shadow")),
                "domain_xml domain/os/kernel: \"/etc/shadow\" is not accepted; expected the installer's kernel of this host, "
                        + debian.kernel());
        assertInvalid(define("git", installer.replace(debian.initrd().toString(), "/root/.ssh/id_ed25519")),
                "the installer's initrd of this host");
        assertInvalid(define("git", installer.replace("<devices>", "<devices><kernel>" + debian.kernel() + "</kernel>")),
                "belongs in the domain's <os>");
        assertInvalid(define("git", installer.replace("priority=critical", "priority=critical&#10;")),
                "printable ASCII");
        assertTrue(describe("git").isEmpty(), "nothing was defined");

        assertEquals(Outcome.OUTCOME_CHANGED, define("git", installer, false).getOutcome());
        awaitDomain("git", d -> true); // the agent's report shows it once its poller has seen libvirt
    }

    @Test
    void aWithheldInstallTokenGoesIntoTheHomeDefinitionWhileItsFingerprintIsOfTheDefinitionAsSent() throws Exception {
        InstallerFiles debian = hostInstaller();
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        String withheld = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA), Boot.kernel(
                "auto=true preseed/url=http://10.0.0.1:7444/install/git/" + InstallToken.PLACEHOLDER + "/preseed.cfg")
                .withFiles(debian.kernel().toString(), debian.initrd().toString()));
        String one = "a".repeat(43);
        String other = "b".repeat(43);

        String refused = assertInvalid(call(() -> defineWithToken(withheld, "x".repeat(43) + "/../")), "install_token");
        assertFalse(refused.contains("xxxx"), "a token is never repeated: " + refused);
        assertEquals(Outcome.OUTCOME_CHANGED, defineWithToken(withheld, one).getOutcome());
        DomainInfo defined = awaitDomain("git", d -> !d.getSourceSha256().isEmpty());
        assertEquals(Sha256.hex(withheld), defined.getSourceSha256(), "the fingerprint the repository's definition has");
        // The same definition with the same token changes nothing; with another token, libvirt's definition changes:
        // the token, not the placeholder, is in it.
        StepResult same = defineWithToken(withheld, one);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, same.getOutcome(), same.getDetail());
        StepResult changed = defineWithToken(withheld, other);
        assertEquals(Outcome.OUTCOME_CHANGED, changed.getOutcome(), changed.getDetail());
        assertTrue(changed.getDetail().startsWith("redefined git"), changed.getDetail());
        // Without a token the placeholder would be defined and the installer refused its preseed: the agent refuses.
        StatusRuntimeException noToken = call(() -> define("git", withheld, false));
        assertEquals(Status.Code.FAILED_PRECONDITION, noToken.getStatus().getCode(), noToken.getStatus().toString());
        assertTrue(noToken.getStatus().getDescription().contains("install_token is empty"), noToken.getStatus().toString());
        StepResult kept = defineWithToken(withheld, other);
        assertEquals(Outcome.OUTCOME_ALREADY_DONE, kept.getOutcome(), "the domain with the token was left as it was");
    }

    @Test
    void aCommandLineTooLongOnlyWithTheTokenIsRefusedWithoutRepeatingTheToken() throws Exception {
        InstallerFiles debian = hostInstaller();
        assertTrue(debian.available(), "needs Debian's debian-installer-12-netboot-amd64 (deploy/dev/install-deps.sh)");
        String cmdline = "auto=true preseed/url=http://10.0.0.1:7444/install/git/" + InstallToken.PLACEHOLDER
                + "/preseed.cfg pad=";
        cmdline += "p".repeat(2040 - cmdline.length()); // 2048 at most as sent; 2061 with a 43-character token
        String withheld = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA), Boot.kernel(cmdline)
                .withFiles(debian.kernel().toString(), debian.initrd().toString()));
        String token = "Tk".repeat(21) + "n";

        String refused = assertInvalid(call(() -> defineWithToken(withheld, token)),
                "this one has 2061 once the install token replaces " + InstallToken.PLACEHOLDER);
        assertFalse(refused.contains(token.substring(0, 8)), "the token is never repeated, not even in part: " + refused);
        assertTrue(describe("git").isEmpty(), "nothing was defined");
    }

    private StepResult defineWithToken(String xml, String token) {
        return agent.withDeadlineAfter(10, TimeUnit.SECONDS).defineDomain(DefineDomainRequest.newBuilder()
                .setVmName("git").setDomainXml(xml).setInstallToken(token).build());
    }

    @Test
    void whatLibvirtItselfRefusesIsReportedWithLibvirtsReason() {
        String git = renderer.render(spec("git", StorageTier.STORAGE_TIER_SATA));
        String message = assertInvalid(define("git", git.replace("<memory unit=\"KiB\">", "<memory unit=\"parsecs\">")),
                "domain_xml: \"define git\" is not accepted; expected a definition libvirt accepts (libvirt: ");
        assertTrue(message.contains("parsecs"), message);
        assertTrue(describe("git").isEmpty(), "nothing was defined");
    }

    @Test
    void aDomainOfTheSameNameButAnotherIdentityIsNotReplaced() throws Exception {
        String before = describe("legacy").orElseThrow().getUuid();
        StatusRuntimeException e = call(() -> define("legacy", renderer.render(spec("legacy", StorageTier.STORAGE_TIER_SSD)), false));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertEquals("domain legacy exists with UUID " + before + ", the definition has UUID " + DomainIdentity.uuid("legacy")
                + ": undefine it first (UndefineDomain) to replace it with another domain of that name", e.getStatus().getDescription());
        DomainInfo after = describe("legacy").orElseThrow();
        assertEquals(before, after.getUuid());
        assertEquals(512 * Bytes.MIB, after.getMaxMemoryBytes(), "left as it was");
        assertNotEquals(DomainIdentity.uuid("legacy").toString(), after.getUuid());
    }

    // ---------------------------------------------------------------------------------------------------

    private static VmSpec spec(String name, StorageTier tier) {
        return VmSpec.newBuilder().setName(name).setStorage(tier).setDiskBytes(20 * Bytes.GIB).setMemoryBytes(2 * Bytes.GIB)
                .setVcpus(2).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base").build();
    }

    private StepResult define(String name, String xml, boolean autostart) {
        return agent.withDeadlineAfter(10, TimeUnit.SECONDS).defineDomain(DefineDomainRequest.newBuilder()
                .setVmName(name).setDomainXml(xml).setAutostart(autostart).build());
    }

    private StatusRuntimeException define(String name, String xml) {
        return call(() -> define(name, xml, false));
    }

    private StepResult running(String name, boolean run, long timeoutMs) {
        return agent.withDeadlineAfter(20, TimeUnit.SECONDS).setDomainRunning(SetDomainRunningRequest.newBuilder()
                .setVmName(name).setRunning(run).setShutdownTimeoutMs(timeoutMs).build());
    }

    private static StatusRuntimeException call(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run);
    }

    private static String assertInvalid(StatusRuntimeException e, String expected) {
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        String description = e.getStatus().getDescription();
        assertTrue(description.contains(expected), "\"" + expected + "\" in: " + description);
        return description;
    }

    private Optional<DomainInfo> describe(String name) {
        return agent.describeHost(DescribeHostRequest.getDefaultInstance()).getDomainsList().stream()
                .filter(d -> d.getName().equals(name)).findFirst();
    }

    /** The agent's report shows the domain as wanted within {@link #SOON}: it polled libvirt after the change. */
    private DomainInfo awaitDomain(String name, Predicate<DomainInfo> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + SOON.toNanos();
        Optional<DomainInfo> last;
        do {
            last = describe(name);
            if (last.isPresent() && wanted.test(last.get())) {
                return last.get();
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("within " + SOON.toMillis() + " ms, not as wanted: " + name + " " + last);
    }

    private void awaitGone(String name) throws InterruptedException {
        long deadline = System.nanoTime() + SOON.toNanos();
        while (describe(name).isPresent()) {
            assertTrue(System.nanoTime() < deadline, name + " still listed after " + SOON.toMillis() + " ms");
            Thread.sleep(50);
        }
    }

    private void awaitInFleetView(String name, Predicate<DomainInfo> wanted) throws InterruptedException {
        awaitInFleetView(name, wanted, name, true);
    }

    /** The operator's view (fed by heartbeats) catches up within two heartbeats. */
    private void awaitInFleetView(String what, Predicate<DomainInfo> wanted, String name, boolean present)
            throws InterruptedException {
        long deadline = System.nanoTime() + HEARTBEAT.multipliedBy(2).plus(SOON).toNanos();
        while (true) {
            Optional<DomainInfo> d = operator.getHost(GetHostRequest.newBuilder().setName(HOST).build()).getReport()
                    .getDomainsList().stream().filter(x -> x.getName().equals(name)).findFirst();
            if (present ? d.isPresent() && wanted.test(d.get()) : d.isEmpty()) {
                return;
            }
            assertTrue(System.nanoTime() < deadline, what + ": not in the fleet view in time: " + d);
            Thread.sleep(100);
        }
    }

    /** Debian's installer files as the host's agent prepared them (its initrd carries virtfleet's hook). */
    private InstallerFiles hostInstaller() throws java.io.IOException {
        return InstallerFiles.prepare(InstallerFiles.PACKAGE_DIRECTORY,
                fleet.agentConfig(HOST, work.resolve("agents").resolve(HOST)).imagesDirectory().resolve(".virtfleet-installer"));
    }
}
