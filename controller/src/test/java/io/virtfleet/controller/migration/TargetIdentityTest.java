package io.virtfleet.controller.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.hypervisor.MigrationException;
import io.virtfleet.agent.hypervisor.TargetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.controller.testkit.LibvirtPki;
import io.virtfleet.controller.testkit.LibvirtdNode;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent binds a migration's target host to the libvirtd it reaches: a TLS server standing in for a libvirtd
 * (client certificates required and checked against the fleet CA, as libvirtd's TLS port does) presents a libvirt
 * certificate the test kit issued, and the agent compares its CN with the host it was asked to migrate to.
 */
class TargetIdentityTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path work;

    @Test
    void theTargetsOwnCertificatePassesAndAnotherHostsIsRefusedNamingBoth() throws Exception {
        LibvirtPki fleet = LibvirtPki.create(work.resolve("fleet-ca"));
        Path client = work.resolve("hv1-tls");
        fleet.installClient(client, "hv1", "127.0.0.1");
        try (FakeLibvirtd hv2 = FakeLibvirtd.start(fleet, work.resolve("hv2"), "hv2")) {
            TargetIdentity.check(client, "web", "hv2", hv2.address(), TIMEOUT);

            MigrationException e = assertThrows(MigrationException.class,
                    () -> TargetIdentity.check(client, "web", "hv3", hv2.address(), TIMEOUT));
            assertEquals(MigrationException.Kind.FAILED_PRECONDITION, e.kind());
            assertEquals("refusing to migrate web to hv3: the libvirtd at 127.0.0.1:" + hv2.address().getPort()
                    + " presents the certificate of hv2 (CN=hv2), not hv3's; the address the controller has for hv3"
                    + " may be another host's (see virtfleet host show hv3)", e.getMessage());
        }
    }

    @Test
    void aServerOfAnotherCaIsNotTrustedAndNobodyListeningIsUnavailable() throws Exception {
        LibvirtPki fleet = LibvirtPki.create(work.resolve("fleet-ca"));
        LibvirtPki stranger = LibvirtPki.create(work.resolve("other-ca"));
        Path client = work.resolve("hv1-tls");
        fleet.installClient(client, "hv1", "127.0.0.1");
        try (FakeLibvirtd hv2 = FakeLibvirtd.start(stranger, work.resolve("hv2"), "hv2")) {
            MigrationException e = assertThrows(MigrationException.class,
                    () -> TargetIdentity.check(client, "web", "hv2", hv2.address(), TIMEOUT));
            assertEquals(MigrationException.Kind.FAILED_PRECONDITION, e.kind());
            assertTrue(e.getMessage().startsWith("cannot migrate web: hv2's libvirtd at 127.0.0.1:" + hv2.address().getPort()
                    + " and this host do not trust each other's fleet-issued libvirt certificates: "), e.getMessage());
        }

        int free;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            free = s.getLocalPort(); // nothing listens there once closed
        }
        MigrationException e = assertThrows(MigrationException.class,
                () -> TargetIdentity.check(client, "web", "hv2", new InetSocketAddress("127.0.0.1", free), TIMEOUT));
        assertEquals(MigrationException.Kind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().startsWith("cannot migrate web: hv2's libvirtd at 127.0.0.1:" + free
                + " is not reachable: "), e.getMessage());
    }

    /** A TLS server with the libvirt server certificate of a host, requiring a client certificate of its CA. */
    private static final class FakeLibvirtd implements AutoCloseable {
        private final SSLServerSocket socket;

        private FakeLibvirtd(SSLServerSocket socket) {
            this.socket = socket;
        }

        static FakeLibvirtd start(LibvirtPki pki, Path nodeDir, String host) throws Exception {
            pki.installServer(nodeDir, host, "127.0.0.1");
            Path dir = LibvirtdNode.pkiDir(nodeDir);
            X509Certificate ca = Pem.certificates(read(dir.resolve("cacert.pem"))).get(0);
            X509Certificate certificate = Pem.certificates(read(dir.resolve("servercert.pem"))).get(0);
            char[] password = new char[0];
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("server", Pem.privateKey(read(dir.resolve("serverkey.pem"))), password,
                    new X509Certificate[] {certificate});
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keys, password);
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            trusted.setCertificateEntry("ca", ca);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trusted);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            SSLServerSocket socket = (SSLServerSocket) context.getServerSocketFactory()
                    .createServerSocket(0, 8, java.net.InetAddress.getLoopbackAddress());
            socket.setNeedClientAuth(true);
            FakeLibvirtd server = new FakeLibvirtd(socket);
            Thread t = new Thread(server::serve, "fake-libvirtd-" + host);
            t.setDaemon(true);
            t.start();
            return server;
        }

        private void serve() {
            while (!socket.isClosed()) {
                try (SSLSocket s = (SSLSocket) socket.accept()) {
                    s.setSoTimeout(10_000);
                    try {
                        s.startHandshake();
                        s.getInputStream().read(); // until the client hangs up
                    } catch (IOException refused) {
                        // a client this server does not trust, or one that does not trust it
                    }
                } catch (IOException closed) {
                    return;
                }
            }
        }

        InetSocketAddress address() {
            return new InetSocketAddress("127.0.0.1", socket.getLocalPort());
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }

        private static String read(Path file) throws IOException {
            return Files.readString(file, StandardCharsets.US_ASCII);
        }
    }
}
