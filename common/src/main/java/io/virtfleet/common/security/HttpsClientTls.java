package io.virtfleet.common.security;

import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Optional;
import javax.net.ssl.HostnameVerifier;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * TLS for the fleet's HTTPS clients that use the JDK's sockets (JGit's smart HTTP transport): a socket
 * factory presenting this party's certificate, trusting only the fleet CA and only a server that proves to
 * be {@link #peer()}, TLS 1.3 only; and the host name verifier to pair with it, which checks the same
 * identity. Nothing here touches JVM-wide settings: each connection is given these explicitly.
 */
public final class HttpsClientTls {
    private static final String[] PROTOCOLS = {"TLSv1.3"};

    private final SSLSocketFactory sockets;
    private final FleetIdentity peer;

    HttpsClientTls(SSLSocketFactory base, FleetIdentity peer) {
        this.sockets = new Tls13Only(base);
        this.peer = peer;
    }

    /** The identity the server must prove. */
    public FleetIdentity peer() {
        return peer;
    }

    /** One instance per client: the JDK reuses kept-alive connections only for the same factory. */
    public SSLSocketFactory socketFactory() {
        return sockets;
    }

    /**
     * Accepts a session whatever host name was dialed as long as the server's certificate names
     * {@link #peer()}; the trust manager has already insisted on that, this says it again where
     * {@code HttpsURLConnection} asks.
     */
    public HostnameVerifier hostnameVerifier() {
        return (host, session) -> peer.equals(identityOf(session).orElse(null));
    }

    static Optional<FleetIdentity> identityOf(SSLSession session) {
        try {
            Certificate[] chain = session.getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate leaf ? FleetIdentity.of(leaf) : Optional.empty();
        } catch (SSLPeerUnverifiedException e) {
            return Optional.empty();
        }
    }

    /** Enables TLS 1.3 alone on every socket it makes (the JDK's "TLSv1.3" context would offer 1.2 too). */
    private static final class Tls13Only extends SSLSocketFactory {
        private final SSLSocketFactory base;

        Tls13Only(SSLSocketFactory base) {
            this.base = base;
        }

        private static Socket restrict(Socket socket) {
            if (socket instanceof SSLSocket ssl) {
                ssl.setEnabledProtocols(PROTOCOLS);
            }
            return socket;
        }

        @Override
        public String[] getDefaultCipherSuites() {
            return base.getDefaultCipherSuites();
        }

        @Override
        public String[] getSupportedCipherSuites() {
            return base.getSupportedCipherSuites();
        }

        @Override
        public Socket createSocket() throws IOException {
            return restrict(base.createSocket());
        }

        @Override
        public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
            return restrict(base.createSocket(s, host, port, autoClose));
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return restrict(base.createSocket(host, port));
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
            return restrict(base.createSocket(host, port, localHost, localPort));
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return restrict(base.createSocket(host, port));
        }

        @Override
        public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
            return restrict(base.createSocket(address, port, localAddress, localPort));
        }
    }
}
