package io.virtfleet.common.security;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/** PEM text for certificates, keys and signing requests, in and out. */
public final class Pem {
    private Pem() {}

    /** PEM text of certificates, signing requests and private keys (written as PKCS#8 "PRIVATE KEY"). */
    public static String of(Object... objects) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            for (Object o : objects) {
                if (o instanceof java.security.interfaces.ECPrivateKey ec && withPublicKey(ec) != null) {
                    writer.writeObject(new org.bouncycastle.util.io.pem.PemObject("PRIVATE KEY", withPublicKey(ec)));
                } else if (o instanceof PrivateKey key) {
                    writer.writeObject(new JcaPKCS8Generator(key, null));
                } else {
                    writer.writeObject(o);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode PEM", e);
        }
        return out.toString();
    }

    /**
     * A P-256 key as PKCS#8 with its public key inside the EC structure, or null for another curve. The JDK's
     * own encoding leaves the public key out; OpenSSL recomputes it, but GnuTLS (under Debian's git and curl)
     * refuses such a key, and operators may use their credentials with those tools.
     */
    private static byte[] withPublicKey(java.security.interfaces.ECPrivateKey key) {
        org.bouncycastle.asn1.x9.X9ECParameters p256 = org.bouncycastle.asn1.sec.SECNamedCurves.getByName("secp256r1");
        java.security.spec.ECParameterSpec params = key.getParams();
        if (params == null || !params.getGenerator().getAffineX().equals(p256.getG().getAffineXCoord().toBigInteger())
                || !params.getOrder().equals(p256.getN())) {
            return null;
        }
        byte[] point = p256.getG().multiply(key.getS()).normalize().getEncoded(false);
        try {
            return new PrivateKeyInfo(new org.bouncycastle.asn1.x509.AlgorithmIdentifier(
                    org.bouncycastle.asn1.x9.X9ObjectIdentifiers.id_ecPublicKey,
                    org.bouncycastle.asn1.sec.SECObjectIdentifiers.secp256r1),
                    new org.bouncycastle.asn1.sec.ECPrivateKey(256, key.getS(), new org.bouncycastle.asn1.DERBitString(point),
                            null)).getEncoded();
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode an EC private key", e);
        }
    }

    public static List<X509Certificate> certificates(String pem) throws IOException {
        List<X509Certificate> out = new ArrayList<>();
        for (Object o : objects(pem)) {
            if (o instanceof X509CertificateHolder holder) {
                try {
                    out.add(new JcaX509CertificateConverter().getCertificate(holder));
                } catch (CertificateException e) {
                    throw new IOException("bad certificate: " + e.getMessage(), e);
                }
            }
        }
        return out;
    }

    public static X509Certificate certificate(Path file) throws IOException {
        List<X509Certificate> certs = certificates(Files.readString(file, StandardCharsets.US_ASCII));
        if (certs.isEmpty()) {
            throw new IOException(file + " holds no certificate");
        }
        return certs.get(0);
    }

    public static PrivateKey privateKey(String pem) throws IOException {
        for (Object o : objects(pem)) {
            if (o instanceof PEMKeyPair pair) {
                // An "EC PRIVATE KEY" block may omit the public key; only the private part is needed here.
                return new JcaPEMKeyConverter().getPrivateKey(pair.getPrivateKeyInfo());
            }
            if (o instanceof PrivateKeyInfo info) {
                return new JcaPEMKeyConverter().getPrivateKey(info);
            }
        }
        throw new IOException("no private key in PEM text");
    }

    public static PKCS10CertificationRequest signingRequest(String pem) throws IOException {
        for (Object o : objects(pem)) {
            if (o instanceof PKCS10CertificationRequest csr) {
                return csr;
            }
        }
        throw new IOException("no certificate signing request in PEM text");
    }

    private static List<Object> objects(String pem) throws IOException {
        List<Object> out = new ArrayList<>();
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
                out.add(o);
            }
        } catch (RuntimeException e) {
            throw new IOException("malformed PEM: " + e.getMessage(), e);
        }
        return out;
    }
}
