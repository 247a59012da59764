package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.agent.enrollment.JoinToken;
import io.virtfleet.agent.libvirttls.LibvirtCertificateKeeper;
import io.virtfleet.agent.libvirttls.LibvirtTlsSettings;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.LibvirtCertificate;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.LibvirtTlsStatus;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the agent installs is what a real libvirtd and QEMU accept: libvirtd serves the host's certificate on its TLS
 * port and admits a fleet host's client certificate, refuses an operator's and any other subject (tls_allowed_dn_list),
 * loads a new certificate without a restart when asked, and QEMU's TLS credentials work both ways with peer checks.
 * libvirtd and its clients run in a network namespace whose loopback interface holds the host's two addresses.
 */
class LibvirtTlsOnLibvirtdTest {
    private static final String FIRST = "10.213.77.1";
    private static final String SECOND = "10.213.77.2";

    @TempDir
    Path work;

    private final List<AutoCloseable> closers = new java.util.ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (int i = closers.size() - 1; i >= 0; i--) {
            closers.get(i).close();
        }
    }

    @Test
    void libvirtdAndQemuAcceptTheInstalledCertificateAndLibvirtdAdmitsOnlyFleetHosts() throws Exception {
        NetworkNamespaces nets = closing(new NetworkNamespaces());
        String ns = nets.create("pki");
        nets.ip(ns, "addr", "add", FIRST + "/32", "dev", "lo");
        nets.ip(ns, "addr", "add", SECOND + "/32", "dev", "lo");

        EmbeddedFleet fleet = closing(EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of()).build().start());
        TlsCredentials hv1 = new Enroller(work.resolve("hv1"), "hv1", fleet.controllerEndpoint())
                .enroll(JoinToken.parse("join-token", fleet.joinToken("hv1"))).credentials();
        ManagedChannel controller = closing(Clients.as(hv1)).controller(fleet.controllerEndpoint());
        AtomicReference<String> reported = new AtomicReference<>();
        register(controller, FIRST, reported);

        // The host's /etc/pki, as libvirtd in its mount namespace sees it.
        Path pki = work.resolve("etc-pki");
        Path node = work.resolve("node");
        Path pkiPath = work.resolve("hv1/libvirt-tls");
        String adminUri = "libvirtd:///system?socket=" + node.toAbsolutePath().normalize().resolve("run/libvirt-admin-sock");
        LibvirtTlsSettings settings = new LibvirtTlsSettings(pki.resolve("CA/cacert.pem"),
                pki.resolve("libvirt/servercert.pem"), pki.resolve("libvirt/private/serverkey.pem"),
                pki.resolve("libvirt/clientcert.pem"), pki.resolve("libvirt/private/clientkey.pem"), pki.resolve("qemu"),
                null, pkiPath, adminUri);
        LibvirtCertificateKeeper keeper = closing(new LibvirtCertificateKeeper("hv1", settings, Clock.systemUTC())
                .connect(controller, hv1::ca, reported::get));

        // Installed before libvirtd starts, as on a host whose agent runs first: no libvirtd to tell yet.
        LibvirtTlsStatus beforeLibvirtd = keeper.check();
        assertTrue(beforeLibvirtd.getProblem().startsWith("libvirtd must be restarted to load the libvirt certificate"),
                beforeLibvirtd.getProblem());
        try (TlsLibvirtd withoutTls = TlsLibvirtd.start(node, ns, pki, LibvirtCertificate.ALLOWED_DN, false)) {
            LibvirtTlsStatus notListening = keeper.check();
            assertTrue(notListening.getProblem().startsWith("libvirtd does not listen on TLS, so no host can migrate"),
                    notListening.getProblem());
        }
        TlsLibvirtd libvirtd = closing(TlsLibvirtd.start(node, ns, pki, LibvirtCertificate.ALLOWED_DN, true));
        assertEquals("", keeper.check().getProblem(), "libvirtd was told to load the files once it runs");

        assertConnects(ns, FIRST, pkiPath);
        assertRefusedClientSide(ns, SECOND, pkiPath, "does not match"); // the certificate does not name it

        // An operator's credentials (same CA) get nowhere: libvirt will not even use its key usage.
        Path operator = work.resolve("operator-pki");
        TlsCredentials admin = CredentialsBundle.read(fleet.adminCredentials());
        writePkiPath(operator, hv1.ca(), admin.certificate(), Pem.privateKey(Files.readString(fleet.adminCredentials())));
        Command.Result asOperator = virsh(ns, FIRST, operator);
        assertNotEquals(0, asOperator.exitCode(), asOperator.stdout());
        // Certificates of the fleet CA made for libvirt in every way but their subject, an operator's (CN=admin) or
        // an agent's (CN=hv1): libvirtd's DN list turns them away.
        for (String subject : List.of(admin.certificate().getSubjectX500Principal().getName(), "CN=hv1")) {
            Path impostor = work.resolve("impostor-pki-" + subject.replaceAll("[^a-z0-9]", ""));
            KeyPair impostorKey = Keys.generate();
            writePkiPath(impostor, hv1.ca(), libvirtShapedCertificate(fleet, subject, impostorKey), impostorKey.getPrivate());
            Command.Result refused = virsh(ns, FIRST, impostor);
            assertNotEquals(0, refused.exitCode(), subject + " admitted: " + refused.stdout());
        }
        assertEquals(2, libvirtd.log().lines().filter(l -> l.contains("virNetTLSContextCheckCertDNACL")
                && l.contains("Client's Distinguished Name is not on the list of allowed clients")).count(), libvirtd.log());

        // QEMU, server on one end and client on the other, with peer verification and the address checked.
        assertQemuTlsWorks(ns, settings.qemuDirectory(), FIRST);

        // The host moves to its second address: a new certificate, loaded by libvirtd without a restart.
        BigInteger before = Pem.certificate(settings.serverCert()).getSerialNumber();
        register(controller, SECOND, reported);
        LibvirtTlsStatus moved = keeper.check();
        assertEquals("", moved.getProblem());
        assertEquals(SECOND, moved.getAddress());
        assertNotEquals(before, Pem.certificate(settings.serverCert()).getSerialNumber());
        assertConnects(ns, SECOND, pkiPath);
        assertRefusedClientSide(ns, FIRST, pkiPath, "does not match");
    }

    private void register(ManagedChannel controller, String address, AtomicReference<String> reported) {
        RegistryGrpc.newBlockingStub(controller).register(RegisterRequest.newBuilder().setAgentId("hv1-agent")
                .setAgentEndpoint("127.0.0.1:1")
                .setReport(HostReport.newBuilder().setHostName("hv1").setMigrationAddress(address)).build());
        reported.set(address);
    }

    private static Command.Result virsh(String ns, String address, Path pkiPath) {
        return Command.of("ip", "netns", "exec", ns, "virsh", "-c",
                "qemu+tls://" + address + "/system?pkipath=" + pkiPath.toAbsolutePath(), "uri")
                .timeout(Duration.ofSeconds(60)).run();
    }

    private static void assertConnects(String ns, String address, Path pkiPath) {
        Command.Result r = virsh(ns, address, pkiPath);
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertEquals("qemu+tls://" + address + "/system?pkipath=" + pkiPath.toAbsolutePath(), r.stdout().strip());
    }

    private static void assertRefusedClientSide(String ns, String address, Path pkiPath, String why) {
        Command.Result r = virsh(ns, address, pkiPath);
        assertNotEquals(0, r.exitCode(), r.stdout());
        assertTrue(r.stderr().contains(why), r.stderr());
    }

    /** A qemu-nbd TLS server and a qemu-img TLS client, both from the installed QEMU directory. */
    private void assertQemuTlsWorks(String ns, Path qemuDirectory, String address) throws Exception {
        Path image = work.resolve("disk.raw");
        Files.write(image, new byte[1 << 20]);
        Path pid = work.resolve("qemu-nbd.pid");
        String credentials = "tls-creds-x509,id=tls0,dir=" + qemuDirectory.toAbsolutePath();
        // --fork: returns once it listens; without --persistent it ends with its one client.
        Command.of("ip", "netns", "exec", ns, "qemu-nbd", "--object", credentials + ",endpoint=server,verify-peer=on",
                "--tls-creds", "tls0", "--bind", address, "--port", "10809", "--fork", "--pid-file", pid.toString(),
                "--format", "raw", image.toString()).timeout(Duration.ofSeconds(30)).runChecked();
        closers.add(() -> {
            if (Files.exists(pid)) {
                ProcessHandle.of(Long.parseLong(Files.readString(pid).strip())).ifPresent(ProcessHandle::destroy);
            }
        });
        Command.Result info = Command.of("ip", "netns", "exec", ns, "qemu-img", "info", "--object",
                credentials + ",endpoint=client", "--image-opts",
                "driver=nbd,host=" + address + ",port=10809,tls-creds=tls0").timeout(Duration.ofSeconds(30)).run();
        assertEquals(0, info.exitCode(), info.stdout() + info.stderr());
        assertTrue(info.stdout().contains("virtual size: 1 MiB"), info.stdout());
    }

    /** Signed by the fleet CA with a libvirt certificate's usages, but under another subject. */
    private static X509Certificate libvirtShapedCertificate(EmbeddedFleet fleet, String subject, KeyPair key) throws Exception {
        Path caDir = fleet.controller().pki().directory();
        PrivateKey caKey = Pem.privateKey(Files.readString(caDir.resolve("ca.key")));
        X509Certificate ca = Pem.certificate(caDir.resolve("ca.crt"));
        Instant now = Instant.now();
        return new JcaX509CertificateConverter().getCertificate(new JcaX509v3CertificateBuilder(ca, new BigInteger(64, new java.security.SecureRandom()),
                Date.from(now.minusSeconds(300)), Date.from(now.plusSeconds(3600)), new X500Name(subject), key.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment))
                .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                        new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                .addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(new GeneralName(GeneralName.iPAddress, FIRST)))
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKey)));
    }

    private static void writePkiPath(Path dir, X509Certificate ca, X509Certificate certificate, PrivateKey key) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("cacert.pem"), Pem.of(ca));
        Files.writeString(dir.resolve("clientcert.pem"), Pem.of(certificate));
        Files.writeString(dir.resolve("clientkey.pem"), Pem.of(key));
    }

    private <T extends AutoCloseable> T closing(T closeable) {
        closers.add(closeable);
        return closeable;
    }
}
