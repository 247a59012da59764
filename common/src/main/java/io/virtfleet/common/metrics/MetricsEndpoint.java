package io.virtfleet.common.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A daemon's Prometheus endpoint: plain HTTP, {@code GET /metrics}, served by threads of its
 * own, so a scrape never runs on a gRPC event loop. Collectors it calls read in-memory state only.
 */
public final class MetricsEndpoint implements AutoCloseable {
    /** The value of {@code metrics-listen} that serves nothing. */
    public static final String OFF = "off";
    /** Scrapes are rare (one per Prometheus per interval): two threads serve them, the rest wait in line. */
    private static final int THREADS = 2;

    private final HTTPServer server;
    private final ExecutorService threads;

    private MetricsEndpoint(HTTPServer server, ExecutorService threads) {
        this.server = server;
        this.threads = threads;
    }

    /**
     * The address a {@code metrics-listen} setting names: empty for {@value #OFF}, else HOST:PORT.
     *
     * @throws InvalidInputException naming {@code field} when the value is neither
     */
    public static Optional<InetSocketAddress> parseListen(String field, String value) {
        if (value == null || value.strip().equalsIgnoreCase(OFF)) {
            return Optional.empty();
        }
        Endpoint at;
        try {
            at = Endpoint.parse(field, value.strip());
        } catch (InvalidInputException e) {
            throw new InvalidInputException(field, value, "off, or HOST:PORT to serve Prometheus metrics on, e.g."
                    + " 127.0.0.1:7445");
        }
        return Optional.of(new InetSocketAddress(at.bareHost(), at.port()));
    }

    /** Serves {@code registry} on {@code bind} (port 0: any free port, see {@link #port}). */
    public static MetricsEndpoint start(InetSocketAddress bind, PrometheusRegistry registry, String threadName)
            throws IOException {
        ThreadPoolExecutor threads = new ThreadPoolExecutor(THREADS, THREADS, 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(64), r -> {
                    Thread t = new Thread(r, threadName);
                    t.setDaemon(true);
                    return t;
                });
        threads.allowCoreThreadTimeOut(true);
        try {
            HTTPServer server = HTTPServer.builder().inetAddress(bind.getAddress()).port(bind.getPort())
                    .registry(registry).executorService(threads).buildAndStart();
            return new MetricsEndpoint(server, threads);
        } catch (IOException | RuntimeException e) {
            threads.shutdownNow();
            throw new IOException("cannot serve metrics on " + bind.getHostString() + ":" + bind.getPort() + ": "
                    + e.getMessage(), e);
        }
    }

    /** The port it listens on (the one chosen when asked for port 0). */
    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        server.close();
        threads.shutdownNow();
    }
}
