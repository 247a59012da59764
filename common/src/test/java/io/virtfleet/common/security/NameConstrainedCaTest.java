package io.virtfleet.common.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXReason;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A name-constrained CA (the dashboard's) as the JDK's PKIX validator judges it, as a browser judges an imported
 * authority: its certificates for the names it was made for validate, and a certificate it signs for any other DNS
 * name or IP address is refused for its name, even though the CA's key signed it. The constraints are read from the
 * CA's own certificate, the way browsers apply those of a trust anchor.
 */
class NameConstrainedCaTest {
    private static final List<String> NAMES = List.of("controller.example.net", "localhost", "127.0.0.1",
            "0:0:0:0:0:0:0:1");
    private static final Duration DAY = Duration.ofDays(1);

    @TempDir
    Path dir;

    @Test
    void itsCertificateForTheDashboardNamesValidates() throws Exception {
        CertificateAuthority ca = CertificateAuthority.nameConstrained("virtfleet dashboard CA", NAMES, DAY.multipliedBy(30),
                Clock.systemUTC());
        X509Certificate leaf = ca.issueWebServer(Keys.generate().getPublic(), "virtfleet dashboard", NAMES, DAY);
        validate(leaf, ca.certificate()); // throws if refused
        // A subtree: names under a dashboard name are within it (RFC 5280 dNSName constraints).
        validate(ca.issueWebServer(Keys.generate().getPublic(), "x", List.of("www.controller.example.net"), DAY),
                ca.certificate());
        assertTrue(ca.certificate().getCriticalExtensionOIDs().contains("2.5.29.30"), "name constraints critical");
        assertEquals(0, ca.certificate().getBasicConstraints(), "a CA that signs end certificates only");
        assertEquals(List.of("1.3.6.1.5.5.7.3.1"), ca.certificate().getExtendedKeyUsage(), "web servers only");
    }

    @Test
    void aCertificateItSignsForAnyOtherNameIsRefusedForItsName() throws Exception {
        CertificateAuthority ca = CertificateAuthority.nameConstrained("virtfleet dashboard CA", NAMES, DAY.multipliedBy(30),
                Clock.systemUTC());
        for (String outside : List.of("bank.example.com", "example.net", "controller.example.net.evil.com",
                "192.0.2.7", "127.0.0.2", "2001:db8:0:0:0:0:0:1", "0:0:0:0:0:0:0:2")) {
            X509Certificate forged = ca.issueWebServer(Keys.generate().getPublic(), "forged", List.of(outside), DAY);
            assertRefusedForItsName(forged, ca.certificate(), outside);
            // Nor does a dashboard name beside it make it pass.
            X509Certificate mixed = ca.issueWebServer(Keys.generate().getPublic(), "forged", List.of("localhost", outside), DAY);
            assertRefusedForItsName(mixed, ca.certificate(), "localhost + " + outside);
        }
    }

    /**
     * The accepted certificates keep the dashboard's common name, "virtfleet dashboard", which is no DNS name: the JDK
     * (unlike browsers) checks a common name that looks like one against the DNS constraints when no DNS name is in
     * the certificate's alternative names.
     */
    @Test
    void aKindOfNameTheListLacksIsShutToo() throws Exception {
        CertificateAuthority dnsOnly = CertificateAuthority.nameConstrained("dns only", List.of("controller.example.net"),
                DAY.multipliedBy(30), Clock.systemUTC());
        validate(dnsOnly.issueWebServer(Keys.generate().getPublic(), "virtfleet dashboard", List.of("controller.example.net"), DAY),
                dnsOnly.certificate());
        for (String ip : List.of("10.0.0.1", "2001:db8:0:0:0:0:0:1")) {
            assertRefusedForItsName(dnsOnly.issueWebServer(Keys.generate().getPublic(), "forged", List.of(ip), DAY),
                    dnsOnly.certificate(), ip + " from a CA without IP addresses");
        }
        CertificateAuthority ipOnly = CertificateAuthority.nameConstrained("ip only", List.of("192.0.2.10"),
                DAY.multipliedBy(30), Clock.systemUTC());
        validate(ipOnly.issueWebServer(Keys.generate().getPublic(), "virtfleet dashboard", List.of("192.0.2.10"), DAY), ipOnly.certificate());
        assertRefusedForItsName(ipOnly.issueWebServer(Keys.generate().getPublic(), "forged", List.of("bank.example.com"), DAY),
                ipOnly.certificate(), "a DNS name from a CA without DNS names");
    }

    @Test
    void theFleetCaIsNeitherInTheChainNorAbleToStandForIt() throws Exception {
        CertificateAuthority fleet = CertificateAuthority.loadOrCreate(dir, Clock.systemUTC());
        CertificateAuthority dashboard = CertificateAuthority.nameConstrained("virtfleet dashboard CA", NAMES,
                DAY.multipliedBy(30), Clock.systemUTC());
        X509Certificate leaf = dashboard.issueWebServer(Keys.generate().getPublic(), "virtfleet dashboard", NAMES, DAY);
        assertEquals(dashboard.certificate().getSubjectX500Principal(), leaf.getIssuerX500Principal());
        assertFalse(leaf.getIssuerX500Principal().equals(fleet.certificate().getSubjectX500Principal()));
        // A browser that trusted only the fleet CA would not accept the dashboard, and the other way round.
        assertThrows(CertPathValidatorException.class, () -> validate(leaf, fleet.certificate()));
        X509Certificate fleetSigned = fleet.issueWebServer(Keys.generate().getPublic(), "x", NAMES, DAY);
        assertThrows(CertPathValidatorException.class, () -> validate(fleetSigned, dashboard.certificate()));
    }

    @Test
    void itTellsWhetherItWasMadeForExactlyTheseNames() throws Exception {
        CertificateAuthority ca = CertificateAuthority.nameConstrained("virtfleet dashboard CA", NAMES, DAY,
                Clock.systemUTC());
        assertTrue(CertificateAuthority.constrainedTo(ca.certificate(), List.of("0:0:0:0:0:0:0:1", "127.0.0.1",
                "localhost", "controller.example.net")), "any order");
        assertFalse(CertificateAuthority.constrainedTo(ca.certificate(), List.of("localhost", "127.0.0.1")), "fewer");
        assertFalse(CertificateAuthority.constrainedTo(ca.certificate(), List.of("controller.example.net", "localhost",
                "127.0.0.1", "0:0:0:0:0:0:0:1", "192.0.2.10")), "one more");
        CertificateAuthority fleet = CertificateAuthority.loadOrCreate(dir, Clock.systemUTC());
        assertFalse(CertificateAuthority.constrainedTo(fleet.certificate(), NAMES), "the fleet CA has no constraints");
    }

    /**
     * Validates {@code leaf} as issued by {@code ca}, trusted as an operator's browser trusts it, with the name
     * constraints its certificate carries. The JDK does not apply a trust anchor's constraints (it refuses them as a
     * parameter), so the CA's certificate is also the path's first CA, where PKIX applies its extensions to the leaf:
     * the same rules browsers apply to an imported authority (RFC 5937).
     */
    private static void validate(X509Certificate leaf, X509Certificate ca) throws Exception {
        PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(ca, null)));
        parameters.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX").validate(
                CertificateFactory.getInstance("X.509").generateCertPath(List.of(leaf, ca)), parameters);
    }

    private static void assertRefusedForItsName(X509Certificate leaf, X509Certificate ca, String what) {
        CertPathValidatorException e = assertThrows(CertPathValidatorException.class, () -> validate(leaf, ca), what);
        assertEquals(PKIXReason.INVALID_NAME, e.getReason(), what + ": " + e);
    }
}
