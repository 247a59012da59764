package io.virtfleet.common.security;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.KeyPair;
import java.util.Base64;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.junit.jupiter.api.Test;

class PemTest {
    @Test
    void aPrivateKeyIsWrittenWithItsPublicKeySoEveryTlsLibraryCanUseIt() throws Exception {
        KeyPair keys = Keys.generate();
        String pem = Pem.of(keys.getPrivate());
        assertTrue(pem.startsWith("-----BEGIN PRIVATE KEY-----"), pem);
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PrivateKeyInfo info = PrivateKeyInfo.getInstance(Base64.getDecoder().decode(body));
        org.bouncycastle.asn1.sec.ECPrivateKey ec = org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
        assertNotNull(ec.getPublicKey(), "public key inside the EC structure");
        byte[] expected = SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded()).getPublicKeyData().getBytes();
        assertArrayEquals(expected, ec.getPublicKey().getBytes());
        java.security.PrivateKey read = Pem.privateKey(pem);
        assertEquals(((java.security.interfaces.ECPrivateKey) keys.getPrivate()).getS(),
                ((java.security.interfaces.ECPrivateKey) read).getS(), "reads back as the same key");
        java.security.Signature sign = java.security.Signature.getInstance("SHA256withECDSA");
        sign.initSign(read);
        sign.update(new byte[] {1, 2, 3});
        byte[] signature = sign.sign();
        java.security.Signature verify = java.security.Signature.getInstance("SHA256withECDSA");
        verify.initVerify(keys.getPublic());
        verify.update(new byte[] {1, 2, 3});
        assertTrue(verify.verify(signature), "the key read back signs for the original public key");
    }
}
