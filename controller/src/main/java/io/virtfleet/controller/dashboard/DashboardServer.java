package io.virtfleet.controller.dashboard;

import io.grpc.ManagedChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.http.BoundedListener;
import io.virtfleet.controller.http.RequestDeadline;
import io.virtfleet.controller.registry.HostRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's web dashboard over HTTPS: a certificate of its own naming the addresses operators type
 * ({@link DashboardSettings#names}), the operator's or one of the name-constrained dashboard CA, never the fleet CA's
 * ({@link DashboardCertificate}), a one-thread event loop that only moves bytes, and a few workers that render
 * pages and make the operator's calls. Every call goes through {@code fleet}, an in-process channel to the
 * controller's own gRPC services behind the same authorization rules, as the session's operator. Requests,
 * headers, bodies and connections are bounded as on the git port.
 */
public final class DashboardServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DashboardServer.class);
    private static final int MAX_CONNECTIONS = 128;
    private static final int WORKERS = 4;
    private static final int QUEUED = 64;
    private static final int MAX_BODY_BYTES = 16 * 1024;
    private static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(15);
    private static final Duration IDLE_TIMEOUT = Duration.ofSeconds(60);

    private final DashboardLogins logins;
    private final ThreadPoolExecutor workers;
    private final ScheduledExecutorService sampler;
    private final BoundedListener listener;
    private final DashboardCertificate certificate;
    private final DashboardSettings settings;
    private final String baseUrl;
    private final AtomicBoolean closed = new AtomicBoolean();

    private DashboardServer(DashboardLogins logins, ThreadPoolExecutor workers, ScheduledExecutorService sampler,
                            BoundedListener listener, DashboardCertificate certificate, DashboardSettings settings) {
        this.logins = logins;
        this.workers = workers;
        this.sampler = sampler;
        this.listener = listener;
        this.certificate = certificate;
        this.settings = settings;
        String first = settings.names().get(0);
        this.baseUrl = "https://" + (first.contains(":") ? "[" + first + "]" : first) + ":" + listener.address().getPort();
    }

    /**
     * Starts serving on {@code settings.listen()}.
     *
     * @param certificate what it shows browsers ({@link DashboardCertificate#forSettings})
     * @param fleet       an in-process channel to the controller's Fleet service, authorizing calls by session
     */
    public static DashboardServer start(DashboardSettings settings, DashboardCertificate certificate,
                                        DashboardLogins logins, ManagedChannel fleet, HostRegistry registry, Clock clock)
            throws IOException {
        SslContext sslContext = certificate.tls().browserServerContext();
        LoadHistory history = new LoadHistory();
        ThreadPoolExecutor workers = new ThreadPoolExecutor(WORKERS, WORKERS, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(QUEUED), new DefaultThreadFactory("vf-dashboard", true));
        workers.allowCoreThreadTimeOut(true);
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(
                new DefaultThreadFactory("vf-dashboard-samples", true));
        DashboardRoutes routes = new DashboardRoutes(logins, new OperatorCalls(fleet), history, settings.sampleEvery(), clock);
        try {
            BoundedListener listener = BoundedListener.bind("dashboard", settings.listen(), MAX_CONNECTIONS, ch -> {
                SslHandler ssl = sslContext.newHandler(ch.alloc());
                ssl.setHandshakeTimeoutMillis(HANDSHAKE_TIMEOUT.toMillis());
                RequestDeadline deadline = new RequestDeadline(REQUEST_TIMEOUT);
                ch.pipeline()
                        .addLast("tls", ssl)
                        .addLast("idle", new IdleStateHandler(0, 0, IDLE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                        .addLast("deadline", deadline.arm)
                        .addLast("http", new HttpServerCodec(new HttpDecoderConfig()
                                .setMaxInitialLineLength(4096).setMaxHeaderSize(8192).setMaxChunkSize(MAX_BODY_BYTES)))
                        .addLast("aggregate", new HttpObjectAggregator(MAX_BODY_BYTES))
                        .addLast("complete", deadline.disarm)
                        .addLast("dashboard", new DashboardHandler(routes::handle, workers, settings.names()));
            });
            DashboardServer server = new DashboardServer(logins, workers, sampler, listener, certificate, settings);
            history.sample(registry.all());
            sampler.scheduleWithFixedDelay(() -> {
                try {
                    history.sample(registry.all());
                    server.renewIfDue();
                } catch (RuntimeException e) {
                    log.warn("dashboard: sampling the hosts' load failed; will retry", e);
                }
            }, settings.sampleEvery().toMillis(), settings.sampleEvery().toMillis(), TimeUnit.MILLISECONDS);
            log.info("serving the web dashboard at {} (TLS {}, {}); operators log in with 'virtfleet dashboard'",
                    server.baseUrl(), TlsCredentials.engine(), certificate.describe());
            return server;
        } catch (IOException | RuntimeException e) {
            workers.shutdownNow();
            sampler.shutdownNow();
            throw new IOException("cannot serve the dashboard on " + settings.listen() + ": " + e.getMessage(), e);
        }
    }

    /** Renews the dashboard's certificate when due (see {@link DashboardCertificate#renewIfDue}). */
    void renewIfDue() {
        try {
            certificate.renewIfDue();
        } catch (IOException | RuntimeException e) {
            log.error("cannot renew the dashboard's certificate; will retry", e);
        }
    }

    public DashboardLogins logins() {
        return logins;
    }

    /** Where operators reach it, e.g. "https://controller.example.net:7447". */
    public String baseUrl() {
        return baseUrl;
    }

    public InetSocketAddress address() {
        return listener.address();
    }

    /** The certificate browsers are shown. */
    public X509Certificate certificate() {
        return certificate.certificate();
    }

    /** The dashboard CA operators import into their browsers; null when the operator's own certificate is served. */
    public X509Certificate authority() {
        return certificate.authority();
    }

    /** Where its certificate comes from (tests). */
    DashboardCertificate certificateSource() {
        return certificate;
    }

    /** The names its certificate is for ({@code dashboard-names}). */
    public List<String> names() {
        return settings.names();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        sampler.shutdownNow();
        listener.closeDraining(workers);
    }
}
