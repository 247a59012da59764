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
}
