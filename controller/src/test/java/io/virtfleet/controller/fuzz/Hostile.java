package io.virtfleet.controller.fuzz;

import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.units.Bytes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;
import org.bouncycastle.asn1.ASN1BitString;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.asn1.pkcs.CertificationRequestInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/** Hostile values for the fleet's APIs: the classics of injection and encoding trouble, mixed with arbitrary ones. */
final class Hostile {
    /** Values that have broken parsers, shells, file systems and logs somewhere. */
    static final List<String> NASTY = List.of(
            "", " ", "a b", "é", "É", "ａ", "../x", "../../etc/passwd", "/", ".", "..", "~", "x/../y", "C:\\x",
            "$(reboot)", "`reboot`", "a;b", "a|b", "a&&b", "a\nb", "a\rb", "a\tb", "\u0000", "a\u0000b", "hv1\u0000",
            "hv1 ", " hv1", "HV1", "hv1\n", "hv1.", "-", "-a", "a-", "--help", "-rf", "%s%s%s%n", "%00", "%2e%2e%2f",
            "${jndi:ldap://127.0.0.1/a}", "<x>&amp;</x>", "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            "' OR '1'='1", "\"", "\\", "\u202ehv1", "\ufeffhv1", "\ud800", "\udfff\ud800", "\uffff", "\ufffe", "🙂",
            "\u001b[2J\u001b]0;pwned\u0007", "null", "undefined", "NaN", "-1", "0", "9".repeat(40),
            "a".repeat(63), "a".repeat(64), "x".repeat(10_000), "é".repeat(10_000), "\u0000".repeat(1_000));

    private Hostile() {}

    /** Hostile text: the classics, arbitrary Unicode, near-valid DNS labels and long strings. */
    static Arbitrary<String> text() {
        return Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.of(NASTY)),
                Tuple.of(3, Arbitraries.strings().all().ofMaxLength(80)),
                Tuple.of(3, nearLabels()),
                Tuple.of(1, Arbitraries.strings().all().ofMinLength(1_000).ofMaxLength(10_000)));
    }

    /** Strings a validator must look at closely: almost DNS labels, sometimes exactly. */
    static Arbitrary<String> nearLabels() {
        return Arbitraries.strings().withChars("abz09-._A ").ofMaxLength(70);
    }

    /** Hostile text, or one of the given values (real names, so that a valid value gets through now and then). */
    static Arbitrary<String> textOr(String... values) {
        return Arbitraries.frequencyOf(Tuple.of(4, text()), Tuple.of(1, Arbitraries.of(values)));
    }

    /** Any long, with the edges that break arithmetic and bounds more often than chance would give. */
    static Arbitrary<Long> longs() {
        return Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.of(0L, 1L, -1L, Long.MIN_VALUE, Long.MAX_VALUE,
                Long.MIN_VALUE + 1, Integer.MAX_VALUE + 1L, Bytes.GIB, Bytes.GIB - 1, 16 * Bytes.TIB, 16 * Bytes.TIB + 1,
                128 * Bytes.MIB - 1, Bytes.TIB + 1, 604_800L, 604_801L, 3_600L));
    }

    static Arbitrary<Integer> ints() {
        return Arbitraries.oneOf(Arbitraries.integers(), Arbitraries.of(0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE,
                256, 257, 3650, 3651, 16_777_215, 16_777_216, 4));
    }

    static Arbitrary<Boolean> bools() {
        return Arbitraries.of(true, false);
    }

    /**
     * Certificate signing requests: one usable (signed by its own key) and many that are not. {@link #broken()}
     * never yields a usable one, so it is safe to pair with a join token that would work.
     */
    static final class Csrs {
        final String valid;
        private final List<String> usable = new ArrayList<>();
        private final byte[] validDer;
        private final List<String> unusable;

        Csrs(X509Certificate someCertificate) {
            KeyPair keys = Keys.generate();
            valid = Pem.of(Keys.signingRequest(keys, "fuzz"));
            usable.add(valid);
            usable.addAll(otherKeyCsrs());
            try {
                validDer = Keys.signingRequest(keys, "fuzz").getEncoded();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            unusable = List.of(
                    forged(keys, Keys.generate()),
                    unaligned(keys, true),
                    unaligned(keys, false),
                    Pem.of(someCertificate),
                    Pem.of(keys.getPrivate()),
                    armour(new byte[0]),
                    armour(new byte[] {0x30, (byte) 0x80}),
                    armour(new byte[] {0x30, (byte) 0x84, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff}),
                    "-----BEGIN CERTIFICATE REQUEST-----\n!!!not base64!!!\n-----END CERTIFICATE REQUEST-----\n",
                    "-----BEGIN CERTIFICATE REQUEST-----\n" + valid.split("\n")[1] + "\n",
                    valid.replace("CERTIFICATE REQUEST", "CERTIFICATE"),
                    valid.replace("CERTIFICATE REQUEST", "EC PRIVATE KEY"),
                    valid.replace("CERTIFICATE REQUEST", "X509 CRL"),
                    valid.replace("CERTIFICATE REQUEST", "PKCS7"),
                    "-----BEGIN CERTIFICATE REQUEST-----\n" + "A".repeat(8_000) + "\n-----END CERTIFICATE REQUEST-----\n",
                    valid.repeat(200));
        }

        /**
         * Never a request the CA would sign. Some mutations of a good request still are one (a changed tag
         * or length in the unsigned envelope, trailing text after the PEM block): those are left out.
         */
        Arbitrary<String> broken() {
            return Arbitraries.frequencyOf(
                    Tuple.of(3, Arbitraries.of(unusable)),
                    Tuple.of(3, flippedByte()),
                    Tuple.of(2, truncated()),
                    Tuple.of(2, Arbitraries.bytes().array(byte[].class).ofMaxSize(600).map(Csrs::armour)),
                    Tuple.of(2, text())).filter(csr -> !usable(csr));
        }

        /** Whether the CA could sign this: a signing request in PEM, signed by the key it holds. */
        static boolean usable(String pem) {
            try {
                PKCS10CertificationRequest csr = Pem.signingRequest(pem);
                return csr.isSignatureValid(new JcaContentVerifierProviderBuilder()
                        .build(new JcaPKCS10CertificationRequest(csr).getPublicKey()));
            } catch (IOException | GeneralSecurityException | OperatorCreationException | PKCSException | RuntimeException e) {
                return false;
            }
        }

        /** Broken ones, and now and then a usable one (the fleet's kind of key, or another). */
        Arbitrary<String> any() {
            return Arbitraries.frequencyOf(Tuple.of(5, broken()), Tuple.of(1, Arbitraries.of(usable)));
        }

        private Arbitrary<String> flippedByte() {
            return Combinators.combine(Arbitraries.integers().between(0, validDer.length - 1),
                    Arbitraries.integers().between(1, 255)).as((at, mask) -> {
                        byte[] der = Arrays.copyOf(validDer, validDer.length);
                        der[at] ^= (byte) (int) mask;
                        return armour(der);
                    });
        }

        private Arbitrary<String> truncated() {
            return Arbitraries.integers().between(0, valid.length() - 1).map(n -> valid.substring(0, n));
        }

        static String armour(byte[] der) {
            return "-----BEGIN CERTIFICATE REQUEST-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                    .encodeToString(der) + "\n-----END CERTIFICATE REQUEST-----\n";
        }

        /** A request whose signature, or public key, is a BIT STRING that does not end on a byte boundary. */
        private static String unaligned(KeyPair keys, boolean signature) {
            CertificationRequest good = Keys.signingRequest(keys, "fuzz").toASN1Structure();
            CertificationRequestInfo info = good.getCertificationRequestInfo();
            if (!signature) {
                SubjectPublicKeyInfo key = info.getSubjectPublicKeyInfo();
                info = new CertificationRequestInfo(info.getSubject(),
                        new SubjectPublicKeyInfo(key.getAlgorithm(), new DERBitString(key.getPublicKeyData().getBytes(), 3)),
                        info.getAttributes());
            }
            ASN1BitString bits = signature ? new DERBitString(good.getSignature().getBytes(), 1) : good.getSignature();
            return Pem.of(new PKCS10CertificationRequest(new CertificationRequest(info, good.getSignatureAlgorithm(), bits)));
        }

        /** The public key of one pair with the signature of another. */
        private static String forged(KeyPair claimed, KeyPair signer) {
            try {
                return Pem.of(new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=fuzz"), claimed.getPublic())
                        .build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate())));
            } catch (OperatorCreationException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** Requests for keys of other kinds and sizes than the fleet's own P-256 ones. */
    private static List<String> otherKeyCsrs() {
        List<String> out = new ArrayList<>();
        for (String[] kind : new String[][] {{"RSA", "1024", "SHA256withRSA"}, {"Ed25519", "", "Ed25519"},
            {"EC", "384", "SHA384withECDSA"}}) {
            try {
                KeyPairGenerator generator = KeyPairGenerator.getInstance(kind[0]);
                if (!kind[1].isEmpty()) {
                    generator.initialize(Integer.parseInt(kind[1]));
                }
                KeyPair keys = generator.generateKeyPair();
                out.add(Pem.of(new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=fuzz"), keys.getPublic())
                        .build(new JcaContentSignerBuilder(kind[2]).build(keys.getPrivate()))));
            } catch (NoSuchAlgorithmException | OperatorCreationException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }
}
