package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.cli.VirtfleetCli;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
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
    @TempDir
    Path work;

    private PxeFleet pxe;
    private FleetGrpc.FleetBlockingStub operator;
    private String base;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void fleetInPxeMode() throws Exception {
        pxe = new PxeFleet(work, Files.createDirectories(work.resolve("tftp")), "127.0.0.1");
        operator = pxe.operator;
        base = pxe.installUrl;
    }

    @AfterEach
    void stop() throws Exception {
        pxe.close();
    }

    private Path pxeFile() {
        return pxe.pxeFile("web");
    }

    private String token() throws Exception {
        return pxe.token("web");
    }

    private int get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private Vm vm() {
        return operator.getVm(GetVmRequest.newBuilder().setName("web").build());
    }

    private String definition() throws Exception {
        return pxe.fleet.controller().vmStore().domainXml("web").orElseThrow();
    }

    private String show() {
        String[] args = {"--controller", pxe.fleet.controllerEndpoint().toString(), "--credentials",
                pxe.fleet.adminCredentials().toString(), "vm", "show", "web"};
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
        String localBoot = Files.readString(pxeFile());
        assertTrue(localBoot.contains("localboot 0") && !localBoot.contains("preseed"), "per-MAC config boots the disk: " + localBoot);
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
