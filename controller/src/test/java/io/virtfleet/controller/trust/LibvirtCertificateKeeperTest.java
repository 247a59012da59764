package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.agent.enrollment.JoinToken;
import io.virtfleet.agent.libvirttls.LibvirtCertificateKeeper;
import io.virtfleet.agent.libvirttls.LibvirtTlsFiles;
import io.virtfleet.agent.libvirttls.LibvirtTlsSettings;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.LibvirtCertificate;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.LibvirtCertificateRequest;
import io.virtfleet.proto.v1.LibvirtTlsStatus;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent's host gets its libvirt certificate from the controller through the fleet's mutual TLS, installs it, keeps
 * it (renewed, re-issued when the host's address changes, files put back) and carries on when the controller fails.
 */
class LibvirtCertificateKeeperTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration LIFETIME = Duration.ofDays(30);

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients clients;
    private TlsCredentials hv7;
    private ManagedChannel asHv7;
    private final AtomicReference<String> reported = new AtomicReference<>("");
    private final TestClock clock = new TestClock(Instant.now());

    @BeforeEach
    void start() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet"))
                .nodes(List.of(new TestDriverNode("hv1", 4, 4096))).heartbeat(HEARTBEAT)
                .agentCertificateLifetime(LIFETIME).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        // hv7 enrolls as its agent would, and registers with the report its agent would send.
        hv7 = new Enroller(work.resolve("hv7"), "hv7", fleet.controllerEndpoint())
                .enroll(JoinToken.parse("join-token", fleet.joinToken("hv7"))).credentials();
        clients = Clients.as(hv7);
        asHv7 = clients.controller(fleet.controllerEndpoint());
    }

    @AfterEach
    void stop() {
        if (clients != null) {
            clients.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void operatorsAndHostsWithoutAnAddressGetNoneAndTheAgentServesAnyway() throws Exception {
        String csr = Pem.of(Keys.signingRequest(Keys.generate(), "hv1"));
        try (Clients admin = Clients.as(fleet.adminCredentials())) {
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> EnrollmentGrpc.newBlockingStub(
                    admin.controller(fleet.controllerEndpoint())).issueLibvirtCertificate(
                    LibvirtCertificateRequest.newBuilder().setCsrPem(csr).build()));
            assertEquals(Status.Code.PERMISSION_DENIED, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("operator admin (admin) may not call"),
                    refused.getStatus().getDescription());
        }
        // hv1's agent runs and reports, though its host reports no migration address and so has no certificate.
        assertTrue(fleet.agent("hv1").registered());
        try (Clients agent = Clients.as(fleet.agent("hv1").credentials())) {
            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> EnrollmentGrpc.newBlockingStub(
                    agent.controller(fleet.controllerEndpoint())).issueLibvirtCertificate(
                    LibvirtCertificateRequest.newBuilder().setCsrPem(csr).build()));
            assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("host hv1 reports no migration address"),
                    refused.getStatus().getDescription());
        }
        LibvirtTlsStatus status = fleet.agent("hv1").libvirtTls().check();
        assertTrue(status.getProblem().startsWith("this host reports no migration address"), status.getProblem());
        // The operator sees why in the host's report.
        Await.until("hv1 reports its libvirt TLS problem", Duration.ofSeconds(10), () -> fleet.controller().registry()
                .get("hv1").orElseThrow().report().getLibvirtTls().equals(status));
        assertTrue(fleet.agent("hv1").registered(), "still serving");
    }

    @Test
    void theCertificateIsInstalledKeptRenewedAndFollowsTheAddress() throws Exception {
        LibvirtTlsSettings settings = LibvirtTlsSettings.inside(work.resolve("hv7"));
        LibvirtTlsFiles files = new LibvirtTlsFiles(settings);
        LibvirtCertificateKeeper keeper = keeper(settings);
        register("10.213.0.17");

        LibvirtTlsStatus first = keeper.check();
        X509Certificate issued = files.installed().orElseThrow().certificate();
        assertEquals("10.213.0.17", first.getAddress());
        assertEquals(issued.getNotAfter().getTime(), first.getNotAfterUnixMs());
        assertTrue(first.getProblem().startsWith("libvirtd must be restarted to load the libvirt certificate issued at"),
                "no admin URI in these settings: " + first.getProblem());
        assertEquals(List.of("10.213.0.17"), LibvirtCertificate.addresses(issued));
        assertEquals(hv7.ca(), files.installed().orElseThrow().ca());
        Map<Path, Long> written = fileIds(settings);
        assertEquals(13, written.size(), written.toString());

        // Nothing changed: nothing is asked for or written.
        keeper.check();
        assertEquals(issued.getSerialNumber(), serial(files));
        assertEquals(written, fileIds(settings));

        // Files altered (mode, content) are put back, alone; each then is a new file (inode) in its place.
        Path qemuKey = settings.qemuDirectory().resolve("client-key.pem");
        Files.setPosixFilePermissions(qemuKey, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(settings.pkiPath().resolve("cacert.pem"), "not the CA");
        keeper.check();
        assertEquals(issued.getSerialNumber(), serial(files));
        Map<Path, Long> restored = fileIds(settings);
        assertEquals(2, restored.entrySet().stream().filter(e -> !e.getValue().equals(written.get(e.getKey()))).count());
        assertEquals(Pem.of(hv7.ca()), Files.readString(settings.pkiPath().resolve("cacert.pem")));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(qemuKey)));

        // The host reports another address: a certificate for it.
        register("10.213.0.27");
        LibvirtTlsStatus moved = keeper.check();
        X509Certificate forNewAddress = files.installed().orElseThrow().certificate();
        assertNotEquals(issued.getSerialNumber(), forNewAddress.getSerialNumber());
        assertEquals(List.of("10.213.0.27"), LibvirtCertificate.addresses(forNewAddress));
        assertEquals("10.213.0.27", moved.getAddress());

        // Renewed at two thirds of its life, not before.
        Instant issuedAt = CertificateAuthority.issuedAt(forNewAddress);
        Instant due = issuedAt.plus(Duration.between(issuedAt, forNewAddress.getNotAfter().toInstant()).multipliedBy(2).dividedBy(3));
        clock.set(due.minusSeconds(60));
        keeper.check();
        assertEquals(forNewAddress.getSerialNumber(), serial(files));
        clock.set(due.plusSeconds(1));
        keeper.check();
        X509Certificate renewed = files.installed().orElseThrow().certificate();
        assertNotEquals(forNewAddress.getSerialNumber(), renewed.getSerialNumber());
        assertEquals(List.of("10.213.0.27"), LibvirtCertificate.addresses(renewed));
        // One key all along: only certificates are rewritten, so files written one by one never mismatch.
        assertEquals(issued.getPublicKey(), renewed.getPublicKey());
        assertEquals(written.get(settings.serverKey()), fileIds(settings).get(settings.serverKey()),
                "the key file is never rewritten");
    }

    @Test
    void aFailingControllerLeavesTheInstalledCertificateInPlaceAndIsReported() throws Exception {
        LibvirtTlsSettings settings = LibvirtTlsSettings.inside(work.resolve("hv7"));
        LibvirtTlsFiles files = new LibvirtTlsFiles(settings);
        LibvirtCertificateKeeper keeper = keeper(settings);
        reported.set("10.213.0.17"); // the agent reports it, but has not registered yet
        LibvirtTlsStatus none = keeper.check();
        assertTrue(none.getProblem().startsWith("the controller did not issue a libvirt certificate (none is installed):"
                + " FAILED_PRECONDITION host hv7 has not registered"), none.getProblem());
        assertEquals("", none.getAddress());
        assertTrue(files.installed().isEmpty());

        register("10.213.0.17");
        keeper.check();
        BigInteger installed = serial(files);
        Map<Path, Long> written = fileIds(settings);

        fleet.stopController();
        X509Certificate certificate = files.installed().orElseThrow().certificate();
        clock.set(certificate.getNotAfter().toInstant().minusSeconds(3600)); // due, still valid
        LibvirtTlsStatus unreachable = keeper.check();
        assertTrue(unreachable.getProblem().startsWith("the controller did not issue a libvirt certificate (the installed"
                + " one is due for renewal): UNAVAILABLE"), unreachable.getProblem());
        assertEquals("10.213.0.17", unreachable.getAddress(), "the installed certificate is still reported");
        assertEquals(installed, serial(files));
        assertEquals(written, fileIds(settings));
    }

    private LibvirtCertificateKeeper keeper(LibvirtTlsSettings settings) {
        return new LibvirtCertificateKeeper("hv7", settings, clock).connect(asHv7, hv7::ca, reported::get);
    }

    /** hv7 (re-)registers reporting this migration address, as its agent would; the keeper sees it reported. */
    private void register(String migrationAddress) {
        RegistryGrpc.newBlockingStub(asHv7).register(RegisterRequest.newBuilder().setAgentId("hv7-agent")
                .setAgentEndpoint("127.0.0.1:1")
                .setReport(HostReport.newBuilder().setHostName("hv7").setMigrationAddress(migrationAddress)).build());
        reported.set(migrationAddress);
    }

    private static BigInteger serial(LibvirtTlsFiles files) throws Exception {
        return files.installed().orElseThrow().certificate().getSerialNumber();
    }

    /** Every file under the settings' directories, by its inode: a rewrite (rename of a new file) changes it. */
    private static Map<Path, Long> fileIds(LibvirtTlsSettings settings) throws Exception {
        Map<Path, Long> ids = new TreeMap<>();
        for (Path root : List.of(settings.caFile().getParent().getParent(), settings.pkiPath())) {
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p : walk.filter(Files::isRegularFile).toList()) {
                    ids.put(p, (Long) Files.getAttribute(p, "unix:ino"));
                }
            }
        }
        return ids;
    }

    /** A clock the test moves. */
    private static final class TestClock extends Clock {
        private volatile Instant now;

        TestClock(Instant now) {
            this.now = now;
        }

        void set(Instant instant) {
            now = instant;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
