package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContext;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import io.virtfleet.controller.testkit.CliRun;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ListHostsRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard CA on an embedded fleet with its dashboard on: the CA the CLI hands out is the dashboard's own,
 * name-constrained, kept owner-only in the data directory, and a browser trusting it (and only it) reaches the
 * dashboard, while one trusting only the fleet CA does not. The dashboard's key, on a port that may face more
 * networks, opens neither an agent nor the controller's gRPC port. And the CA is kept across restarts with the same
 * names, made anew when they change or its files are damaged.
 */
class DashboardAuthorityTest {
    private static final Duration DAY = Duration.ofDays(1);

    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;

    @BeforeAll
    static void startFleet() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).heartbeat(Duration.ofMillis(500))
                .nodes(List.of(new TestDriverNode("hv1", 8, 16 * 1024L))).dashboard(DashboardSettings.localhost()).build()
                .start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stopFleet() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void theCliHandsOutTheDashboardCaWhichAloneOpensTheDashboard() throws Exception {
        Path saved = work.resolve("dashboard-ca.crt");
        CliRun run = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "dashboard", "--save-ca", saved.toString());
        assertEquals(0, run.code(), run.err());
        X509Certificate ca = Pem.certificate(saved);
        X509Certificate fleetCa = fleet.controller().pki().ca().certificate();
        DashboardServer dashboard = fleet.controller().dashboard();
        assertEquals(dashboard.authority(), ca);
        assertNotEquals(fleetCa, ca);
        assertTrue(CertificateAuthority.constrainedTo(ca, List.of("localhost", "127.0.0.1")), "constrained to its names");
        assertTrue(run.out().contains(CertificateAuthority.fingerprint(ca)), run.out());
        // The fleet CA is named on one line only: the one asking to remove it from browsers that imported it before.
        List<String> naming = run.out().lines().filter(l -> l.contains(CertificateAuthority.fingerprint(fleetCa))).toList();
        assertEquals(List.of(DashboardAuthority.fleetCaWarning(CertificateAuthority.fingerprint(fleetCa)) + "."), naming,
                run.out());
        assertTrue(run.out().contains("can vouch only for localhost, 127.0.0.1"), run.out());

        // Kept owner-only in the data directory, the same CA.
        Path dir = work.resolve("fleet").resolve("controller").resolve(DashboardAuthority.DIRECTORY);
        assertTrue(Files.isDirectory(dir), "no " + dir + " in " + listing(work.resolve("fleet")));
        for (String file : List.of(DashboardAuthority.CERT_FILE, DashboardAuthority.KEY_FILE)) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(file))), file);
        }
        assertEquals(ca, Pem.certificate(dir.resolve(DashboardAuthority.CERT_FILE)));

        // A browser trusting the saved CA only: the handshake succeeds for the name, and the fleet CA is nowhere.
        Certificate[] chain = handshake(ca, "localhost");
        assertEquals(dashboard.certificate(), chain[0]);
        assertEquals(ca.getSubjectX500Principal(), ((X509Certificate) chain[0]).getIssuerX500Principal());
        for (Certificate c : chain) {
            assertNotEquals(fleetCa, c, "the fleet CA in the dashboard's chain");
        }
        assertEquals(java.util.Optional.empty(), FleetIdentity.of((X509Certificate) chain[0]));
        // Trusting the fleet CA alone gets nowhere: it does not vouch for the dashboard.
        assertThrows(SSLHandshakeException.class, () -> handshake(fleetCa, "localhost"));
    }

    @Test
    void jsonSaysWhichCaAndForWhichNames() {
        CliRun run = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "-o", "json", "dashboard");
        assertEquals(0, run.code(), run.err());
        String fingerprint = CertificateAuthority.fingerprint(fleet.controller().dashboard().authority());
        assertTrue(run.out().contains(fingerprint), run.out());
        String compact = run.out().replaceAll("\\s", "");
        assertTrue(compact.contains("\"names\":[\"localhost\",\"127.0.0.1\"]"), run.out());
        assertTrue(compact.contains("\"own_certificate\":false"), run.out());
    }

    /**
     * Whoever steals the dashboard's key (it terminates TLS from browsers) holds a certificate the agents and the
     * controller's gRPC port refuse: the dashboard CA is not the fleet's, and the certificate has no client use and
     * no fleet identity. A certificate of the fleet's own for the controller, over the same client, is accepted: the
     * refusals are the certificate's.
     */
    @Test
    void theDashboardsKeyOpensNeitherAnAgentNorTheControllersPort() throws Exception {
        DashboardCertificate source = fleet.controller().dashboard().certificateSource();
        List<X509Certificate> dashboardChain = List.of(source.certificate(), source.authority());
        Endpoint agent = Endpoint.parse("agent", fleet.controller().registry().get("hv1").orElseThrow().agentEndpoint());

        Status.Code atAgent = callAgent(source.key(), dashboardChain, agent);
        assertTrue(refused(atAgent), "the agent answered the dashboard's key with " + atAgent);
        Status.Code atController = callController(source.key(), dashboardChain);
        assertTrue(refused(atController), "the controller answered the dashboard's key with " + atController);

        // The same certificate shape signed by the fleet CA (server use, no identity) is refused as well.
        CertificateAuthority fleetCa = fleet.controller().pki().ca();
        KeyPair web = Keys.generate();
        List<X509Certificate> fleetWeb = List.of(fleetCa.issueWebServer(web.getPublic(), "virtfleet dashboard",
                List.of("localhost", "127.0.0.1"), DAY), fleetCa.certificate());
        Status.Code fleetSigned = callAgent(web.getPrivate(), fleetWeb, agent);
        assertTrue(refused(fleetSigned), "the agent answered a fleet-signed web certificate with " + fleetSigned);

        // The client itself works: with the controller's identity from the fleet CA, the agent answers.
        KeyPair controller = Keys.generate();
        List<X509Certificate> controllerChain = List.of(fleetCa.issue(controller.getPublic(), FleetIdentity.controller(),
                DAY, List.of()), fleetCa.certificate());
        assertEquals(Status.Code.OK, callAgent(controller.getPrivate(), controllerChain, agent));
    }

    @Test
    void theCaIsKeptForTheSameNamesAndMadeAnewForOthersOrWhenDamaged() throws Exception {
        Path data = work.resolve("data");
        Clock clock = Clock.systemUTC();
        List<String> names = List.of("controller.example.net", "192.0.2.10");
        CertificateAuthority first = DashboardAuthority.open(data, names, DAY, clock);
        assertEquals(first.fingerprint(), DashboardAuthority.open(data, names, DAY, clock).fingerprint(), "kept");
        assertEquals(first.fingerprint(), DashboardAuthority.open(data, List.of("192.0.2.10", "controller.example.net"),
                DAY, clock).fingerprint(), "the same names in another order");

        List<String> more = List.of("controller.example.net", "192.0.2.10", "dashboard.example.net");
        CertificateAuthority second = DashboardAuthority.open(data, more, DAY, clock);
        assertNotEquals(first.fingerprint(), second.fingerprint(), "a new name needs a new CA");
        assertTrue(CertificateAuthority.constrainedTo(second.certificate(), more));
        assertTrue(second.certificate().getSubjectX500Principal().getName().contains("controller.example.net"));

        // A key that is not the certificate's (a write cut short between the two files): made anew.
        Path key = data.resolve(DashboardAuthority.DIRECTORY).resolve(DashboardAuthority.KEY_FILE);
        Files.writeString(key, Pem.of(Keys.generate().getPrivate()), StandardCharsets.US_ASCII);
        CertificateAuthority third = DashboardAuthority.open(data, more, DAY, clock);
        assertNotEquals(second.fingerprint(), third.fingerprint());
        assertEquals(third.fingerprint(), DashboardAuthority.open(data, more, DAY, clock).fingerprint());

        // One that ends within a dashboard certificate's life: made anew.
        CertificateAuthority longLived = DashboardAuthority.open(data, more, Duration.ofDays(3650 + 1), clock);
        assertNotEquals(third.fingerprint(), longLived.fingerprint());
    }

    @Test
    void aKeyOthersCouldReadIsMadeOwnerOnlyAndSaidSo() throws Exception {
        Path data = work.resolve("loose");
        List<String> names = List.of("controller.example.net");
        CertificateAuthority made = DashboardAuthority.open(data, names, DAY, Clock.systemUTC());
        Path key = data.resolve(DashboardAuthority.DIRECTORY).resolve(DashboardAuthority.KEY_FILE);
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r--r--")); // cp by root, say

        List<String> warnings = warnings(() -> assertEquals(made.fingerprint(),
                DashboardAuthority.open(data, names, DAY, Clock.systemUTC()).fingerprint(), "the same CA, kept"));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
        assertTrue(warnings.stream().anyMatch(w -> w.contains(key.toString()) && w.contains("rw-r--r--")), warnings.toString());

        // Owner-only already: nothing to say.
        assertEquals(List.of(), warnings(() -> DashboardAuthority.open(data, names, DAY, Clock.systemUTC())));
    }

    /**
     * A data directory whose fleet CA is older than this run, getting its first dashboard CA, is a controller upgraded
     * from a version whose dashboard used the fleet CA (and told operators to import it): the log asks them, once, to
     * remove it from their browsers. A data directory made in this run (a first start) gets no such word.
     */
    @Test
    void anUpgradedDataDirectoryIsToldOnceToRemoveTheFleetCaFromBrowsers() throws Exception {
        Path data = work.resolve("upgraded");
        CertificateAuthority fleetCa = CertificateAuthority.loadOrCreate(data.resolve("pki"),
                Clock.offset(Clock.systemUTC(), Duration.ofDays(-30)));
        List<String> names = List.of("controller.example.net");
        List<String> first = warnings(() -> DashboardAuthority.open(data, names, DAY, Clock.systemUTC()));
        String line = DashboardAuthority.fleetCaWarning(fleetCa.fingerprint());
        assertEquals(List.of(line), first);
        assertTrue(line.contains(fleetCa.fingerprint()) && line.contains("remove it"), line);
        assertEquals(List.of(), warnings(() -> DashboardAuthority.open(data, names, DAY, Clock.systemUTC())), "once");

        Path fresh = work.resolve("fresh");
        CertificateAuthority.loadOrCreate(fresh.resolve("pki"), Clock.systemUTC());
        assertEquals(List.of(), warnings(() -> DashboardAuthority.open(fresh, names, DAY, Clock.systemUTC())),
                "a first start made both CAs");
    }

    /**
     * The dashboard CA is replaced only at a start: a controller running into its last leaf lifetime is told, at
     * ERROR, to restart, since its certificates are cut to the CA's end and then end with it.
     */
    @Test
    void aDashboardCaNearItsEndIsAnErrorInTheLog() throws Exception {
        Duration leaf = Duration.ofDays(30);
        CertificateAuthority ending = CertificateAuthority.nameConstrained("ending", List.of("localhost"),
                Duration.ofDays(2), Clock.systemUTC());
        DashboardCertificate served = DashboardCertificate.issued(ending, List.of("localhost"), leaf, Clock.systemUTC());
        List<String> said = warnings(DashboardCertificate.class, served::renewIfDue);
        assertTrue(said.stream().anyMatch(w -> w.startsWith("the dashboard CA ends on ") && w.contains("restart the"
                + " controller")), said.toString());
        assertEquals(List.of(), warnings(DashboardCertificate.class, served::renewIfDue), "once a day");

        CertificateAuthority lasting = CertificateAuthority.nameConstrained("lasting", List.of("localhost"),
                Duration.ofDays(365), Clock.systemUTC());
        DashboardCertificate fine = DashboardCertificate.issued(lasting, List.of("localhost"), leaf, Clock.systemUTC());
        assertEquals(List.of(), warnings(DashboardCertificate.class, fine::renewIfDue));
    }

    /** What DashboardAuthority logs at WARNING or above while {@code action} runs. */
    private static List<String> warnings(ThrowingAction action) throws Exception {
        return warnings(DashboardAuthority.class, action);
    }

    /** What {@code source} logs at WARNING or above while {@code action} runs. */
    private static List<String> warnings(Class<?> source, ThrowingAction action) throws Exception {
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger(source.getName());
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                if (r.getLevel().intValue() >= java.util.logging.Level.WARNING.intValue()) {
                    seen.add(r.getMessage());
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        logger.addHandler(handler);
        try {
            action.run();
        } finally {
            logger.removeHandler(handler);
        }
        return List.copyOf(seen);
    }

    private interface ThrowingAction {
        void run() throws Exception;
    }

    private static boolean refused(Status.Code code) {
        return code == Status.Code.UNAVAILABLE || code == Status.Code.UNAUTHENTICATED
                || code == Status.Code.PERMISSION_DENIED;
    }

    /** A TLS handshake with the dashboard, as a browser trusting {@code trusted} alone and opening it by {@code name}. */
    private static Certificate[] handshake(X509Certificate trusted, String name) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        store.setCertificateEntry("trusted", trusted);
        TrustManagerFactory trust = TrustManagerFactory.getInstance("PKIX");
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(null, trust.getTrustManagers(), null);
        int port = fleet.controller().dashboard().address().getPort();
        try (java.net.Socket plain = new java.net.Socket("127.0.0.1", port);
             SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(plain, name, port, true)) {
            SSLParameters parameters = socket.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS"); // the name is checked, as a browser does
            socket.setSSLParameters(parameters);
            socket.startHandshake();
            return socket.getSession().getPeerCertificates();
        }
    }

    private static Status.Code callAgent(PrivateKey key, List<X509Certificate> chain, Endpoint agent) throws Exception {
        ManagedChannel channel = channel(key, chain, agent, FleetIdentity.agent("hv1"));
        try {
            AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .describeHost(DescribeHostRequest.getDefaultInstance());
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        } finally {
            channel.shutdownNow();
        }
    }

    private static Status.Code callController(PrivateKey key, List<X509Certificate> chain) throws Exception {
        ManagedChannel channel = channel(key, chain, fleet.controllerEndpoint(), FleetIdentity.controller());
        try {
            FleetGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listHosts(ListHostsRequest.getDefaultInstance());
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        } finally {
            channel.shutdownNow();
        }
    }

    /** A client that trusts the fleet CA (so it reaches the server) and presents {@code chain} with {@code key}. */
    private static ManagedChannel channel(PrivateKey key, List<X509Certificate> chain, Endpoint target, FleetIdentity peer)
            throws Exception {
        SslContext tls = GrpcSslContexts.forClient().keyManager(key, chain.toArray(X509Certificate[]::new))
                .trustManager(fleet.controller().pki().ca().certificate()).protocols("TLSv1.3").build();
        return NettyChannelBuilder.forAddress(target.bareHost(), target.port()).sslContext(tls)
                .overrideAuthority(peer.dnsName()).build();
    }

    private static String listing(Path dir) throws Exception {
        try (var walk = Files.walk(dir, 2)) {
            return walk.map(dir::relativize).map(Path::toString).toList().toString();
        }
    }
}
