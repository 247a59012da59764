package io.virtfleet.agent.sync;

import io.virtfleet.common.security.HttpsClientTls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.net.ProtocolException;
import java.net.Proxy;
import java.net.URL;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import javax.net.ssl.HostnameVerifier;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManager;
import javax.net.ssl.TrustManager;
import org.eclipse.jgit.transport.http.HttpConnection;
import org.eclipse.jgit.transport.http.HttpConnectionFactory2;

/**
 * JGit's HTTP connections to the controller, each with the fleet's mutual TLS: this agent's certificate, the
 * fleet CA as the only trust, the controller's identity required of the server. Given to one transport at a
 * time ({@code TransportHttp#setHttpConnectionFactory}), never installed JVM-wide. Plain {@code http://} is
 * refused, and so are JGit's attempts to loosen TLS ({@code http.sslVerify=false} in a git config is ignored).
 */
final class FleetHttpConnections implements HttpConnectionFactory2 {
    private final HttpsClientTls tls;

    FleetHttpConnections(HttpsClientTls tls) {
        this.tls = tls;
    }

    @Override
    public HttpConnection create(URL url) throws IOException {
        return create(url, null);
    }

    @Override
    public HttpConnection create(URL url, Proxy proxy) throws IOException {
        if (!"https".equals(url.getProtocol())) {
            throw new IOException("definitions URL " + url + " is not accepted; expected https:// (mutual TLS with the controller)");
        }
        HttpsURLConnection connection = (HttpsURLConnection) (proxy == null ? url.openConnection() : url.openConnection(proxy));
        connection.setSSLSocketFactory(tls.socketFactory());
        connection.setHostnameVerifier(tls.hostnameVerifier());
        return new Connection(connection);
    }

    @Override
    public GitSession newSession() {
        return new GitSession() {
            @Override
            public HttpConnection configure(HttpConnection connection, boolean sslVerify) {
                return connection; // already configured; sslVerify=false is not honored
            }

            @Override
            public void close() {
                // nothing held per session
            }
        };
    }

    /**
     * Reads a response of up to {@link #EAGER_BYTES} to its end at once. Git's smart HTTP answers are small and
     * complete (each request of a fetch is answered in full, the server waits for nothing more), but JGit reads
     * only up to the last packet it expects and sends its next request before closing the previous answer; the
     * JDK hands a connection back for reuse only once its answer was read to the end (for a chunked answer:
     * past its last, empty chunk). Read lazily, every fetch (protocol v2: info/refs, ls-refs, fetch) opened a
     * second connection, with a TLS handshake on both sides. A longer answer (a large pack) is streamed as before and drained, within the same
     * bound, when JGit closes it.
     */
    static InputStream wholeOrRest(InputStream response) throws IOException {
        byte[] head = response.readNBytes(EAGER_BYTES);
        if (head.length < EAGER_BYTES) {
            response.close(); // at its end: the connection goes back to the JDK's keep-alive cache
            return new ByteArrayInputStream(head);
        }
        return new SequenceInputStream(new ByteArrayInputStream(head), response) {
            @Override
            public void close() throws IOException {
                try {
                    response.readNBytes(EAGER_BYTES); // most often just the last chunk: then the connection is kept
                } finally {
                    super.close();
                }
            }
        };
    }

    /** How much of an answer is read ahead of JGit, and drained after it. */
    static final int EAGER_BYTES = 64 * 1024;

    /** An {@link HttpsURLConnection} whose TLS settings cannot be replaced. */
    private static final class Connection implements HttpConnection {
        private final HttpsURLConnection c;
        private InputStream in;

        Connection(HttpsURLConnection c) {
            this.c = c;
        }

        @Override
        public int getResponseCode() throws IOException {
            return c.getResponseCode();
        }

        @Override
        public URL getURL() {
            return c.getURL();
        }

        @Override
        public String getResponseMessage() throws IOException {
            return c.getResponseMessage();
        }

        @Override
        public Map<String, List<String>> getHeaderFields() {
            return c.getHeaderFields();
        }

        @Override
        public void setRequestProperty(String key, String value) {
            c.setRequestProperty(key, value);
        }

        @Override
        public void setRequestMethod(String method) throws ProtocolException {
            c.setRequestMethod(method);
        }

        @Override
        public void setUseCaches(boolean usecaches) {
            c.setUseCaches(usecaches);
        }

        @Override
        public void setConnectTimeout(int timeout) {
            c.setConnectTimeout(timeout);
        }

        @Override
        public void setReadTimeout(int timeout) {
            c.setReadTimeout(timeout);
        }

        @Override
        public String getContentType() {
            return c.getContentType();
        }

        @Override
        public InputStream getInputStream() throws IOException {
            if (in == null) {
                in = wholeOrRest(c.getInputStream());
            }
            return in;
        }

        @Override
        public String getHeaderField(String name) {
            return c.getHeaderField(name);
        }

        @Override
        public List<String> getHeaderFields(String name) {
            List<String> values = c.getHeaderFields().get(name);
            if (values == null) {
                for (Map.Entry<String, List<String>> e : c.getHeaderFields().entrySet()) {
                    if (e.getKey() != null && e.getKey().equalsIgnoreCase(name)) {
                        return e.getValue();
                    }
                }
            }
            return values == null ? List.of() : values;
        }

        @Override
        public int getContentLength() {
            return c.getContentLength();
        }

        @Override
        public void setInstanceFollowRedirects(boolean followRedirects) {
            c.setInstanceFollowRedirects(followRedirects);
        }

        @Override
        public void setDoOutput(boolean dooutput) {
            c.setDoOutput(dooutput);
        }

        @Override
        public void setFixedLengthStreamingMode(int contentLength) {
            c.setFixedLengthStreamingMode(contentLength);
        }

        @Override
        public OutputStream getOutputStream() throws IOException {
            return c.getOutputStream();
        }

        @Override
        public void setChunkedStreamingMode(int chunklen) {
            c.setChunkedStreamingMode(chunklen);
        }

        @Override
        public String getRequestMethod() {
            return c.getRequestMethod();
        }

        @Override
        public boolean usingProxy() {
            return c.usingProxy();
        }

        @Override
        public void connect() throws IOException {
            c.connect();
        }

        @Override
        public void configure(KeyManager[] km, TrustManager[] tm, SecureRandom random) {
            throw new UnsupportedOperationException("the TLS of connections to the controller is fixed: fleet CA and controller identity");
        }

        @Override
        public void setHostnameVerifier(HostnameVerifier hostnameverifier) {
            throw new UnsupportedOperationException("the TLS of connections to the controller is fixed: fleet CA and controller identity");
        }
    }
}
