package io.virtfleet.common.security;

import io.grpc.netty.GrpcSslContexts;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * A party's TLS material: its own key and certificate (replaceable at any time, so renewal needs no
 * restart: new connections use the new certificate, open ones carry on), and the fleet CA it trusts.
 * Every context it builds speaks TLS 1.3 only.
 */
public final class TlsCredentials {
    private static final String[] PROTOCOLS = {"TLSv1.3"};

    private final AdvancedTlsX509KeyManager keyManager = new AdvancedTlsX509KeyManager();
    private final X509Certificate ca;
    /** The certificates sent after this party's own: its issuer (the fleet CA), or a web server's intermediates. */
    private final List<X509Certificate> issuers;
    private final FleetIdentity identity;
    private volatile X509Certificate certificate;

    public TlsCredentials(PrivateKey key, X509Certificate certificate, X509Certificate ca) {
        this(key, certificate, ca, List.of(ca), FleetIdentity.of(certificate)
                .orElseThrow(() -> new IllegalArgumentException("certificate names no virtfleet identity")));
    }

    private TlsCredentials(PrivateKey key, X509Certificate certificate, X509Certificate ca, List<X509Certificate> issuers,
                           FleetIdentity identity) {
        this.ca = ca;
        this.issuers = List.copyOf(issuers);
        this.identity = identity;
        update(key, certificate);
    }

    /**
     * A web server's credentials (the dashboard's), for {@link #browserServerContext} only: a certificate that names
     * no fleet identity (see {@link CertificateAuthority#issueWebServer}), sent with the certificates that follow it
     * in {@code chain} (its issuer, or the intermediates of the site's own PKI). {@link #identity()} is null, and
     * {@link #ca()} is the last certificate of the chain, the one browsers are to trust (null if the chain is the
     * certificate alone).
     *
     * @param chain the server's certificate first, then each one's issuer
     */
    public static TlsCredentials webServer(PrivateKey key, List<X509Certificate> chain) {
        if (chain.isEmpty()) {
            throw new IllegalArgumentException("a web server needs its certificate");
        }
        if (FleetIdentity.of(chain.get(0)).isPresent()) {
            throw new IllegalArgumentException("a web server's certificate must not name a fleet identity");
        }
        List<X509Certificate> issuers = chain.subList(1, chain.size());
        return new TlsCredentials(key, chain.get(0), issuers.isEmpty() ? null : issuers.get(issuers.size() - 1), issuers,
                null);
    }

    /** Swaps in a renewed key and certificate; the identity must stay the same (none, for a web server). */
    public void update(PrivateKey key, X509Certificate renewed) {
        FleetIdentity renewedIdentity = FleetIdentity.of(renewed).orElse(null);
        if (!java.util.Objects.equals(identity, renewedIdentity)) {
            throw new IllegalArgumentException("renewed certificate is for " + renewedIdentity + ", not " + identity);
        }
        List<X509Certificate> chain = new java.util.ArrayList<>();
        chain.add(renewed);
        chain.addAll(issuers);
        keyManager.updateIdentityCredentials(chain.toArray(X509Certificate[]::new), key);
        this.certificate = renewed;
    }

    public FleetIdentity identity() {
        return identity;
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /**
     * The TLS implementation Netty will use in this JVM: BoringSSL when netty-tcnative is on the class path
     * (the controller ships it), else the JDK's. Worth a log line: a handshake costs several times more CPU in
     * the JDK's.
     */
    public static String engine() {
        return io.netty.handler.ssl.OpenSsl.isAvailable()
                ? io.netty.handler.ssl.OpenSsl.versionString() + " (native)" : "JDK " + Runtime.version().feature();
    }

    public X509Certificate ca() {
        return ca;
    }

    public Instant notAfter() {
        return certificate.getNotAfter().toInstant();
    }

    /**
     * A server context. {@code clientAuth} is REQUIRE for every service except enrollment, which runs on
     * OPTIONAL so a joining agent without a certificate can reach it; the authorization interceptor then
     * refuses every other call that lacks one.
     */
    public SslContext serverContext(ClientAuth clientAuth) throws SSLException {
        return GrpcSslContexts.configure(SslContextBuilder.forServer(keyManager))
                .trustManager(fleetTrust(ca))
                .clientAuth(clientAuth)
                .protocols(PROTOCOLS)
                .build();
    }

    /** A client context presenting this party's certificate and trusting only the fleet CA. */
    public SslContext clientContext() throws SSLException {
        return GrpcSslContexts.configure(SslContextBuilder.forClient())
                .keyManager(keyManager)
                .trustManager(fleetTrust(ca))
                .protocols(PROTOCOLS)
                .build();
    }

    /**
     * A server context for HTTPS (the controller's git smart-HTTP port): the same mutual TLS 1.3 with the
     * fleet CA as {@link #serverContext}, client certificate required, but without gRPC's ALPN: that one
     * offers only "h2", and a client that accepts it (curl inside the git CLI does) would then speak HTTP/2
     * to an HTTP/1.1 server. Without ALPN every client falls back to HTTP/1.1.
     */
    public SslContext httpsServerContext() throws SSLException {
        return SslContextBuilder.forServer(keyManager)
                .trustManager(fleetTrust(ca))
                .clientAuth(ClientAuth.REQUIRE)
                .protocols(PROTOCOLS)
                .build();
    }

    /**
     * A server context for browsers (the controller's web dashboard): TLS 1.3 with this certificate, no client
     * certificate asked for (a browser session is authenticated by its cookie) and no ALPN, so HTTP/1.1.
     */
    public SslContext browserServerContext() throws SSLException {
        return SslContextBuilder.forServer(keyManager)
                .clientAuth(ClientAuth.NONE)
                .protocols(PROTOCOLS)
                .build();
    }

    /**
     * TLS for an HTTPS client on the JDK's sockets (JGit's HTTP transport) that presents this party's
     * certificate and talks only to a server of the fleet CA whose certificate names {@code peer}. Build
     * one per client and keep it: connections are reused only within one.
     */
    public HttpsClientTls httpsClient(FleetIdentity peer) {
        try {
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
            context.init(new javax.net.ssl.KeyManager[] {keyManager},
                    new TrustManager[] {new PeerIdentityTrustManager(fleetTrust(ca), peer)}, null);
            return new HttpsClientTls(context.getSocketFactory(), peer);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM cannot make a TLS 1.3 client context: " + e.getMessage(), e);
        }
    }

    /**
     * A client context for a party without a certificate yet (a joining agent): it trusts a server only if
     * the server's chain ends in a CA whose SHA-256 fingerprint is {@code caFingerprint}.
     */
    public static SslContext pinnedClientContext(String caFingerprint) throws SSLException {
        return GrpcSslContexts.configure(SslContextBuilder.forClient())
                .trustManager(new PinnedCaTrustManager(caFingerprint))
                .protocols(PROTOCOLS)
                .build();
    }

    static X509TrustManager fleetTrust(X509Certificate ca) {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            store.setCertificateEntry("virtfleet-ca", ca);
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            for (TrustManager tm : factory.getTrustManagers()) {
                if (tm instanceof X509TrustManager x509) {
                    return x509;
                }
            }
            throw new IllegalStateException("no X.509 trust manager");
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException("cannot build trust in the fleet CA", e);
        }
    }
}
