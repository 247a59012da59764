package io.virtfleet.common.security;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Trusts a server only if its chain ends in the fleet CA <em>and</em> its certificate names the expected
 * identity: the check a gRPC channel makes with {@code overrideAuthority}, done here on the identity itself
 * so it holds whatever host name or address the client dialed (another party of the fleet, whose
 * certificate is just as valid, cannot pose as the controller). Being an extended trust manager, the JDK
 * adds no host name check of its own.
 */
final class PeerIdentityTrustManager extends X509ExtendedTrustManager {
    private final X509TrustManager fleet;
    private final FleetIdentity expected;

    PeerIdentityTrustManager(X509TrustManager fleet, FleetIdentity expected) {
        this.fleet = fleet;
        this.expected = expected;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        fleet.checkServerTrusted(chain, authType);
        FleetIdentity presented = FleetIdentity.of(chain[0]).orElse(null);
        if (!expected.equals(presented)) {
            throw new CertificateException("the server's certificate is for " + (presented == null ? "no virtfleet identity" : presented)
                    + ", expected " + expected);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("this trust manager only checks servers");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return fleet.getAcceptedIssuers();
    }
}
