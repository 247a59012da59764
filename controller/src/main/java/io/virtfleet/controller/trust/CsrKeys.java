package io.virtfleet.controller.trust;

import io.virtfleet.common.validation.InvalidInputException;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.RSAPublicKey;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/**
 * The keys a signing request may be for: EC P-256 (what agents and the CLI make, see
 * {@code io.virtfleet.common.security.Keys}) or P-384, or RSA of 2048 to 4096 bits. Read from the request's encoded
 * key alone, before its signature is verified: verifying with a huge RSA key costs the worker seconds.
 */
final class CsrKeys {
    static final String ACCEPTED = "a signing request for an EC P-256 or P-384 key, or an RSA key of 2048 to 4096 bits";
    private static final int MIN_RSA_BITS = 2048;
    private static final int MAX_RSA_BITS = 4096;

    private CsrKeys() {}

    /** Throws InvalidInputException naming {@code field} and the key found when it is not one accepted. */
    static void check(String field, PKCS10CertificationRequest csr) {
        String found;
        try {
            SubjectPublicKeyInfo info = csr.getSubjectPublicKeyInfo();
            AlgorithmIdentifier algorithm = info.getAlgorithm();
            ASN1ObjectIdentifier type = algorithm.getAlgorithm();
            if (type.equals(X9ObjectIdentifiers.id_ecPublicKey)) {
                if (algorithm.getParameters() instanceof ASN1ObjectIdentifier curve
                        && (curve.equals(X9ObjectIdentifiers.prime256v1) || curve.equals(SECObjectIdentifiers.secp384r1))) {
                    return;
                }
                found = "an EC key on curve " + algorithm.getParameters();
            } else if (type.equals(PKCSObjectIdentifiers.rsaEncryption)) {
                int bits = RSAPublicKey.getInstance(info.parsePublicKey()).getModulus().bitLength();
                if (bits >= MIN_RSA_BITS && bits <= MAX_RSA_BITS) {
                    return;
                }
                found = "an RSA key of " + bits + " bits";
            } else {
                found = "a key of algorithm " + type.getId();
            }
        } catch (java.io.IOException | RuntimeException e) {
            found = "an unreadable key (" + e.getMessage() + ")";
        }
        throw new InvalidInputException(field, found, ACCEPTED);
    }
}
