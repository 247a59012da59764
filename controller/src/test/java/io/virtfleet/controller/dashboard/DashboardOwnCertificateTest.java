package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.CliRun;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard serving the operator's own certificate ({@code dashboard-tls-cert}, {@code dashboard-tls-key}): here
 * from a stand-in for a site's PKI (a CA of its own, unrelated to the fleet's, and an RSA key as ACME clients often
 * make). A client trusting that PKI alone sees exactly that certificate; no dashboard CA is made or handed out. A bad
 * pair (missing file, another key, an expired certificate) is refused naming the setting and the file, and nothing
 * of the dashboard starts.
 */
class DashboardOwnCertificateTest {
    private static final List<String> NAMES = List.of("localhost", "127.0.0.1");
    private static final Duration DAY = Duration.ofDays(1);

    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;
    private static CertificateAuthority site;

    @BeforeAll
    static void startControllerWithoutDashboard() throws Exception {
        site = CertificateAuthority.loadOrCreate(work.resolve("site-pki"), Clock.systemUTC());
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of()).build().start();
    }

    @AfterAll
    static void stopController() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aBadPairIsRefusedNamingTheSettingAndTheFileAndNothingStartsThenAGoodOneIsServed() throws Exception {
        KeyPair keys = rsa();
        X509Certificate good = site.issueWebServer(keys.getPublic(), "dashboard.example.net", NAMES, DAY.multipliedBy(30));
        Path cert = write("dashboard.crt", Pem.of(good, site.certificate()));
        Path key = write("dashboard.key", Pem.of(keys.getPrivate()));

        Path missing = work.resolve("no-such.crt");
        assertRefused(missing, key, DashboardCertificate.CERT_SETTING, missing, "there is no such file");
        Path missingKey = work.resolve("no-such.key");
        assertRefused(cert, missingKey, DashboardCertificate.KEY_SETTING, missingKey, "there is no such file");
        Path otherKey = write("other.key", Pem.of(rsa().getPrivate()));
        assertRefused(cert, otherKey, DashboardCertificate.KEY_SETTING, otherKey, "this key is another one");
        Path ecKey = write("ec.key", Pem.of(Keys.generate().getPrivate()));
        assertRefused(cert, ecKey, DashboardCertificate.KEY_SETTING, ecKey, "this key is another one");
        CertificateAuthority lastMonth = CertificateAuthority.loadOrCreate(work.resolve("old-pki"),
                Clock.fixed(Instant.now().minus(Duration.ofDays(40)), java.time.ZoneOffset.UTC));
        Path expired = write("expired.crt", Pem.of(lastMonth.issueWebServer(keys.getPublic(), "x", NAMES, DAY)));
        assertRefused(expired, key, DashboardCertificate.CERT_SETTING, expired, "this one ended on");
        Path notPem = write("garbage.crt", "not a certificate\n");
        assertRefused(notPem, key, DashboardCertificate.CERT_SETTING, notPem, "this file holds none");
        Path caFirst = write("ca-first.crt", Pem.of(site.certificate(), good));
        assertRefused(caFirst, key, DashboardCertificate.CERT_SETTING, caFirst, "the first one in this file is a CA's");
        // A chain out of order or with another chain's CA: each certificate must be signed by the next one.
        CertificateAuthority otherName = CertificateAuthority.nameConstrained("another site's CA", NAMES, DAY,
                Clock.systemUTC());
        Path foreignCa = write("foreign-ca.crt", Pem.of(good, otherName.certificate()));
        assertRefused(foreignCa, key, DashboardCertificate.CERT_SETTING, foreignCa, "certificate 1 of 2 (CN="
                + "dashboard.example.net) is issued by " + site.certificate().getSubjectX500Principal()
                + ", but certificate 2 is CN=another site's CA");
        CertificateAuthority sameName = CertificateAuthority.loadOrCreate(work.resolve("same-name-pki"), Clock.systemUTC());
        assertEquals(site.certificate().getSubjectX500Principal(), sameName.certificate().getSubjectX500Principal());
        Path impostor = write("same-name-ca.crt", Pem.of(good, sameName.certificate()));
        assertRefused(impostor, key, DashboardCertificate.CERT_SETTING, impostor, "but certificate 2 is another CA of"
                + " that name, whose key did not sign it");
        // Nothing was started by any of them: no dashboard, and no dashboard CA made either.
        assertNull(fleet.controller().dashboard());
        assertFalse(Files.exists(work.resolve("fleet").resolve("controller").resolve(DashboardAuthority.DIRECTORY)));

        DashboardServer dashboard = fleet.controller().startDashboard(DashboardSettings.localhost().withOwnCertificate(cert, key));
        assertEquals(good, dashboard.certificate());
        assertNull(dashboard.authority(), "no dashboard CA beside the operator's certificate");
        assertFalse(Files.exists(work.resolve("fleet").resolve("controller").resolve(DashboardAuthority.DIRECTORY)));

        // A client trusting the site's PKI alone, opening it by name, sees the operator's certificate and its issuer.
        Certificate[] chain = handshake(site.certificate(), dashboard.address().getPort(), "localhost");
        assertEquals(good, chain[0]);
        assertEquals(site.certificate(), chain[1], "the intermediates of the file are sent along");

        // The CLI says there is nothing to import, and saves nothing.
        Path saved = work.resolve("saved-ca.crt");
        CliRun run = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "dashboard", "--save-ca", saved.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("serves the site's own certificate"), run.out());
        assertTrue(run.err().contains("nothing written to " + saved), run.err());
        assertFalse(Files.exists(saved));
        CliRun json = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "-o", "json", "dashboard");
        assertEquals(0, json.code(), json.err());
        String compact = json.out().replaceAll("\\s", "");
        assertTrue(compact.contains("\"own_certificate\":true"), json.out());
        assertTrue(compact.contains("\"ca_pem\":\"\""), json.out());
    }

    private static void assertRefused(Path cert, Path key, String setting, Path file, String why) {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> fleet.controller().startDashboard(DashboardSettings.localhost().withOwnCertificate(cert, key)),
                setting + " " + file);
        assertEquals(setting, e.field(), e.getMessage());
        assertTrue(e.getMessage().startsWith(setting + ": \"" + file + "\""), e.getMessage());
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    private static KeyPair rsa() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        return generator.generateKeyPair();
    }

    private static Path write(String name, String text) throws Exception {
        Path file = work.resolve(name);
        Files.writeString(file, text, StandardCharsets.US_ASCII);
        return file;
    }

    private static Certificate[] handshake(X509Certificate trusted, int port, String name) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        store.setCertificateEntry("trusted", trusted);
        TrustManagerFactory trust = TrustManagerFactory.getInstance("PKIX");
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(null, trust.getTrustManagers(), null);
        try (java.net.Socket plain = new java.net.Socket("127.0.0.1", port);
             SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(plain, name, port, true)) {
            SSLParameters parameters = socket.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(parameters);
            socket.startHandshake();
            return socket.getSession().getPeerCertificates();
        }
    }
}
