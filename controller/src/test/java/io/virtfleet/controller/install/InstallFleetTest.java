package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.cli.VirtfleetCli;
import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An unattended install through a running fleet in PXE mode: {@code vm create} over the operator API writes the
 * VM's per-MAC pxelinux config, the installer's fetches over HTTP move the state {@code vm show} reports, the done
 * callback removes the config and redefines the domain to boot from its disk, and {@code vm reinstall} re-arms it
 * all with a new token. One embedded host with its network in a namespace (root needed, as for the other fleet tests).
 */
class InstallFleetTest {
    private static final Pattern TOKEN = Pattern.compile("preseed/url=(http://\\S+)/install/web/([A-Za-z0-9_-]{43})/preseed\\.cfg");

    @TempDir
    Path work;

    private Path tftp;
    private EmbeddedFleet fleet;
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;
    private String base;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void fleetInPxeMode() throws Exception {
        tftp = Files.createDirectories(work.resolve("tftp"));
        Path keys = Installer.keyFile(Files.createDirectories(work.resolve("keys")), Installer.ed25519(3, "ops"));
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        base = "http://127.0.0.1:" + port;
        BootSettings boot = new BootSettings(BootMode.PXE, tftp, new InetSocketAddress("127.0.0.1", port), base);
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(EmbeddedFleet.defaultNodes(1)).simulatedNetwork(true)
                .heartbeat(Duration.ofMillis(200)).reconcileInterval(Duration.ofHours(1))
                .provisioning(p -> p.withInstall(p.install().withAuthorizedKeysFile(keys)).withBoot(boot)).build().start();
        admin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .noneMatch(h -> h.getState() == HostState.HOST_STATE_READY && !h.getReport().getVxlanAddress().isEmpty())) {
            assertTrue(System.nanoTime() < deadline, "host ready within 60 s");
            Thread.sleep(100);
        }
    }

    @AfterEach
    void stop() throws Exception {
        admin.close();
        fleet.close();
    }

    private Path pxeFile() {
        return tftp.resolve("pxelinux.cfg").resolve("01-" + DomainIdentity.lanMac("web").replace(':', '-'));
    }

    private String token() throws Exception {
        Matcher m = TOKEN.matcher(Files.readString(pxeFile()));
        assertTrue(m.find(), Files.readString(pxeFile()));
        assertEquals(base, m.group(1));
        return m.group(2);
    }

    private int get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private Vm vm() {
        return operator.getVm(GetVmRequest.newBuilder().setName("web").build());
    }

    private String definition() throws Exception {
        return fleet.controller().vmStore().domainXml("web").orElseThrow();
    }

    private String show() {
        String[] args = {"--controller", fleet.controllerEndpoint().toString(), "--credentials",
                fleet.adminCredentials().toString(), "vm", "show", "web"};
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, VirtfleetCli.run(new PrintWriter(out), new PrintWriter(err), args), err.toString());
        return out.toString().lines().filter(l -> l.startsWith("Install:")).findFirst().orElse(out.toString());
    }

    @Test
    void createArmsThePxeConfigTheInstallerMovesTheStateAndDoneBootsTheVmFromItsDisk() throws Exception {
        operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build()).forEachRemaining(p -> { });
        String first = token();
        assertEquals(VmInstallPhase.VM_INSTALL_PHASE_WAITING, vm().getInstallPhase());
        assertEquals("api", vm().getInstallProfile());
        assertTrue(show().startsWith("Install:   waiting for installer (profile api, armed "), show());
        assertTrue(definition().contains("<boot order=\"1\"/>") && definition().contains("<boot order=\"2\"/>"),
                "network first while armed: " + definition());

        assertEquals(200, get("/install/web/" + first + "/preseed.cfg"));
        assertEquals(VmInstallPhase.VM_INSTALL_PHASE_PRESEED_FETCHED, vm().getInstallPhase());
        assertTrue(vm().getPreseedFetchedAtUnixMs() >= vm().getInstallArmedAtUnixMs());
        assertTrue(show().startsWith("Install:   preseed fetched "), show());
        assertEquals(200, get("/install/web/" + first + "/profiles/api/post-install.sh"));
        assertEquals(200, get("/install/web/" + first + "/done"));

        Vm installed = vm();
        assertEquals(VmInstallPhase.VM_INSTALL_PHASE_INSTALLED, installed.getInstallPhase());
        assertTrue(installed.getInstalledAtUnixMs() >= installed.getPreseedFetchedAtUnixMs());
        assertTrue(show().startsWith("Install:   installed "), show());
        assertFalse(Files.exists(pxeFile()), "per-MAC config removed");
        String xml = definition();
        assertTrue(xml.contains("<boot order=\"1\"/>") && !xml.contains("<boot order=\"2\"/>"), "disk only: " + xml);
        assertTrue(installed.getHistoryList().stream().anyMatch(e -> e.getMessage().startsWith("installed web (profile api)")),
                installed.getHistoryList().toString());
        assertEquals(403, get("/install/web/" + first + "/preseed.cfg"));

        Vm again = operator.reinstallVm(ReinstallVmRequest.newBuilder().setName("web").setProfile("api-test").build());
        assertEquals(VmInstallPhase.VM_INSTALL_PHASE_WAITING, again.getInstallPhase());
        assertEquals("api-test", again.getSpec().getProfile());
        String second = token();
        assertNotEquals(first, second);
        assertTrue(definition().contains("<boot order=\"2\"/>"), "network first again: " + definition());
        assertEquals(403, get("/install/web/" + first + "/preseed.cfg"));
        assertEquals(200, get("/install/web/" + second + "/profiles/api-test/post-install.sh"));
        assertEquals(403, get("/install/web/" + second + "/profiles/api/post-install.sh"), "api-test does not build on api");
        assertEquals(VmInstallPhase.VM_INSTALL_PHASE_WAITING, vm().getInstallPhase(), "a script fetch is no preseed fetch");
    }

    @Test
    void reinstallRefusesAnUnknownVmOrProfileAndChangesNothing() throws Exception {
        operator.createVm(CreateVmRequest.newBuilder().setSpec(Installer.lanVm("web", "api")).build()).forEachRemaining(p -> { });
        String token = token();
        StatusRuntimeException unknownVm = assertThrows(StatusRuntimeException.class,
                () -> operator.reinstallVm(ReinstallVmRequest.newBuilder().setName("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, unknownVm.getStatus().getCode());
        StatusRuntimeException unknownProfile = assertThrows(StatusRuntimeException.class,
                () -> operator.reinstallVm(ReinstallVmRequest.newBuilder().setName("web").setProfile("shop").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, unknownProfile.getStatus().getCode());
        assertTrue(unknownProfile.getStatus().getDescription().startsWith("profile: \"shop\" is not accepted"),
                unknownProfile.getStatus().getDescription());
        assertEquals(token, token(), "still the same install");
        assertEquals("api", vm().getSpec().getProfile());
        assertEquals(200, get("/install/web/" + token + "/preseed.cfg"));
    }
}
