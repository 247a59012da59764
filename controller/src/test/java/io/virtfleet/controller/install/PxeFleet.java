package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An embedded fleet of one host (its network in a namespace: root needed) whose controller arms PXE installs into
 * a TFTP root of the test's (or direct kernel boot installs), its install server on loopback, with an admin's
 * operator API.
 */
final class PxeFleet implements AutoCloseable {
    final Path tftp;
    /** The install server's base URL as the VMs are told it. */
    final String installUrl;
    final EmbeddedFleet fleet;
    final Clients admin;
    final FleetGrpc.FleetBlockingStub operator;

    /**
     * @param urlHost how the VMs reach the controller's loopback: 127.0.0.1 for the test's own HTTP client,
     *                10.0.2.2 for a QEMU guest on user-mode networking
     */
    PxeFleet(Path work, Path tftp, String urlHost) throws Exception {
        this(work, tftp, urlHost, BootMode.PXE, io.virtfleet.agent.hypervisor.InstallerFiles.PACKAGE_DIRECTORY);
    }

    /**
     * @param mode      pxe or kernel
     * @param installer where the host's agent finds the installer's kernel and initrd
     */
    PxeFleet(Path work, Path tftp, String urlHost, BootMode mode, Path installer) throws Exception {
        this(work, tftp, urlHost, mode, installer, java.util.List.of());
    }

    /** @param hostInterceptors bound to the API of the fleet's one host, hv1 (e.g. to make it fail a call) */
    PxeFleet(Path work, Path tftp, String urlHost, BootMode mode, Path installer,
             java.util.List<io.grpc.ServerInterceptor> hostInterceptors) throws Exception {
        this.tftp = tftp;
        Path keys = Installer.keyFile(Files.createDirectories(work.resolve("keys")), Installer.ed25519(3, "ops"));
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        installUrl = "http://" + urlHost + ":" + port;
        BootSettings boot = new BootSettings(mode, tftp, new InetSocketAddress("127.0.0.1", port), installUrl);
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(EmbeddedFleet.defaultNodes(1)).simulatedNetwork(true)
                .heartbeat(Duration.ofMillis(200)).reconcileInterval(Duration.ofHours(1)).installerDirectory(installer)
                .provisioning(p -> p.withInstall(p.install().withAuthorizedKeysFile(keys)).withBoot(boot))
                .apiInterceptors("hv1", hostInterceptors).build().start();
        admin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .noneMatch(h -> h.getState() == HostState.HOST_STATE_READY && !h.getReport().getVxlanAddress().isEmpty())) {
            assertTrue(System.nanoTime() < deadline, "host ready within 60 s");
            Thread.sleep(100);
        }
    }

    /** Debian's installer files of {@code directory} as the fleet's one host prepared them (hook in its initrd). */
    io.virtfleet.agent.hypervisor.InstallerFiles hostInstaller(Path directory) throws IOException {
        return io.virtfleet.agent.hypervisor.InstallerFiles.prepare(directory,
                fleet.agentConfig("hv1", fleet.workDirectory().resolve("agents").resolve("hv1")).imagesDirectory()
                        .resolve(".virtfleet-installer"));
    }

    /** The per-MAC pxelinux config of a LAN VM. */
    Path pxeFile(String vm) {
        return tftp.resolve("pxelinux.cfg").resolve("01-" + DomainIdentity.lanMac(vm).replace(':', '-'));
    }

    /** The token of the VM's armed install, read from its PXE config (which must point at this fleet). */
    String token(String vm) throws IOException {
        String config = Files.readString(pxeFile(vm));
        Matcher m = Pattern.compile("preseed/url=" + Pattern.quote(installUrl) + "/install/" + vm
                + "/([A-Za-z0-9_-]{43})/preseed\\.cfg").matcher(config);
        assertTrue(m.find(), config);
        return m.group(1);
    }

    @Override
    public void close() throws Exception {
        admin.close();
        fleet.close();
    }
}
