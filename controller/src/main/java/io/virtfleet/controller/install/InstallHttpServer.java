package io.virtfleet.controller.install;

import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.virtfleet.controller.http.BoundedListener;
import io.virtfleet.controller.http.RequestDeadline;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the Debian installers of the VMs being installed, over plain HTTP (the installer has no client
 * certificate; what protects a VM's preseed is its one-time token, see {@link InstallBook}): GET only, the few
 * paths of {@link InstallHttpHandler}. Everything is bounded: request line and headers, no request body,
 * connections, the time to send a request, and the requests served at once (rendering a preseed reads files and
 * the done callback redefines the VM, so they run on a few workers of their own, never on the event loop).
 */
public final class InstallHttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InstallHttpServer.class);
    private static final int MAX_CONNECTIONS = 256;
    private static final int WORKERS = 2;
    private static final int QUEUED = 64;
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);

    private final ThreadPoolExecutor workers;
    private final BoundedListener listener;
    private final AtomicBoolean closed = new AtomicBoolean();

    private InstallHttpServer(ThreadPoolExecutor workers, BoundedListener listener) {
        this.workers = workers;
        this.listener = listener;
    }

    /** Starts serving on {@code bind} (port 0: any free port, see {@link #port()}). */
    public static InstallHttpServer start(Installs installs, InetSocketAddress bind) throws IOException {
        ThreadPoolExecutor workers = new ThreadPoolExecutor(WORKERS, WORKERS, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(QUEUED), new DefaultThreadFactory("vf-install-http", true));
        workers.allowCoreThreadTimeOut(true);
        try {
            BoundedListener listener = BoundedListener.bind("install-http", bind, MAX_CONNECTIONS, ch -> {
                RequestDeadline deadline = new RequestDeadline(REQUEST_TIMEOUT);
                ch.pipeline()
                        .addLast("idle", new IdleStateHandler(0, 0, IDLE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                        .addLast("deadline", deadline.arm)
                        .addLast("http", new HttpServerCodec(new HttpDecoderConfig()
                                .setMaxInitialLineLength(1024).setMaxHeaderSize(8192).setMaxChunkSize(8192)))
                        // No body is ever needed: GET only. A request announcing one is answered 413.
                        .addLast("aggregate", new HttpObjectAggregator(0))
                        .addLast("complete", deadline.disarm)
                        .addLast("install", new InstallHttpHandler(installs, workers));
            });
            InetSocketAddress bound = listener.address();
            log.info("serving installers at http://{}:{}/install/ (VMs use {})", bound.getHostString(), bound.getPort(),
                    installs.boot().installUrl().isEmpty() ? "no install-url: none armed" : installs.boot().installUrl());
            return new InstallHttpServer(workers, listener);
        } catch (IOException | RuntimeException e) {
            workers.shutdownNow();
            throw new IOException("cannot serve installers on " + bind + ": " + e.getMessage(), e);
        }
    }

    public int port() {
        return listener.address().getPort();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        listener.closeConnections();
        workers.shutdownNow();
        listener.close();
    }
}
