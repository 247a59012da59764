package io.virtfleet.common.security;

import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;

/**
 * Trusts a server whose chain is [leaf, CA] where the CA's SHA-256 fingerprint is the pinned one and
 * signed the leaf. This is how a joining agent, which has no CA certificate yet, knows it talks to its
 * own controller: the fingerprint travels with the join token (like kubeadm's CA cert hash).
 */
final class PinnedCaTrustManager implements javax.net.ssl.X509TrustManager {
    private final String fingerprint;

    PinnedCaTrustManager(String fingerprint) {
        this.fingerprint = fingerprint.toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        if (chain == null || chain.length < 2) {
            throw new CertificateException("server sent no CA certificate to check against the pinned fingerprint");
        }
        X509Certificate ca = chain[chain.length - 1];
        if (!CertificateAuthority.fingerprint(ca).equals(fingerprint)) {
            throw new CertificateException("server's CA fingerprint " + CertificateAuthority.fingerprint(ca)
                    + " is not the pinned " + fingerprint + ": not our controller");
        }
        try {
            chain[0].checkValidity();
            chain[0].verify(ca.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw new CertificateException("server certificate not valid under the pinned CA: " + e.getMessage(), e);
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("a pinned trust manager only checks servers");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }
}
