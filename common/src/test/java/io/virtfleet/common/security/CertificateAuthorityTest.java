package io.virtfleet.common.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateAuthorityTest {
    @TempDir
    Path dir;

    @Test
    void aRequestSignedByItsOwnKeyYieldsThatKey() throws Exception {
        KeyPair keys = Keys.generate();
        assertEquals(keys.getPublic(), CertificateAuthority.verifiedKey(Keys.signingRequest(keys, "hv1")));
    }

    @Test
    void aRequestSignedByAnotherKeyIsRefused() {
        PKCS10CertificationRequest good = Keys.signingRequest(Keys.generate(), "hv1");
        PKCS10CertificationRequest other = Keys.signingRequest(Keys.generate(), "hv1");
        PKCS10CertificationRequest forged = new PKCS10CertificationRequest(new CertificationRequest(
                good.toASN1Structure().getCertificationRequestInfo(), good.getSignatureAlgorithm(),
                new DERBitString(other.getSignature())));
        GeneralSecurityException e = assertThrows(GeneralSecurityException.class, () -> CertificateAuthority.verifiedKey(forged));
        assertEquals("the signing request is not signed by its own key", e.getMessage());
    }

    /** Found by the API fuzz test: BouncyCastle's IllegalStateException escaped and the controller answered INTERNAL. */
    @Test
    void aMalformedSignatureIsASecurityExceptionNotAnUncheckedOne() throws Exception {
        PKCS10CertificationRequest good = Keys.signingRequest(Keys.generate(), "hv1");
        PKCS10CertificationRequest unaligned = new PKCS10CertificationRequest(new CertificationRequest(
                good.toASN1Structure().getCertificationRequestInfo(), good.getSignatureAlgorithm(),
                new DERBitString(good.getSignature(), 1)));
        GeneralSecurityException e = assertThrows(GeneralSecurityException.class, () -> CertificateAuthority.verifiedKey(unaligned));
        assertTrue(e.getMessage().startsWith("malformed signing request: "), e.getMessage());
        CertificateAuthority ca = CertificateAuthority.loadOrCreate(dir, Clock.systemUTC());
        assertThrows(GeneralSecurityException.class,
                () -> ca.issue(unaligned, FleetIdentity.agent("hv1"), Duration.ofDays(1), List.of()));
    }

    @Test
    void aWebServerCertificateNamesNoFleetIdentityAndServesOnly() throws Exception {
        CertificateAuthority ca = CertificateAuthority.loadOrCreate(dir, Clock.systemUTC());
        java.security.cert.X509Certificate web = ca.issueWebServer(Keys.generate().getPublic(), "virtfleet dashboard",
                List.of("fleet.example.net", "192.0.2.10"), Duration.ofDays(1));
        assertEquals(java.util.Optional.empty(), FleetIdentity.of(web), "a fleet identity in the dashboard's certificate");
        assertEquals(List.of("1.3.6.1.5.5.7.3.1"), web.getExtendedKeyUsage(), "server use only, no client use");
        assertEquals(2, web.getSubjectAlternativeNames().size());
        assertTrue(web.getSubjectAlternativeNames().stream().anyMatch(n -> n.get(1).equals("fleet.example.net")));
        assertThrows(GeneralSecurityException.class,
                () -> ca.issueWebServer(Keys.generate().getPublic(), "virtfleet dashboard", List.of(), Duration.ofDays(1)));
    }
}
