package io.virtfleet.controller.definitions;

import io.netty.handler.codec.http.HttpContentDecompressor;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.http.BoundedListener;
import io.virtfleet.controller.http.RequestDeadline;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the definitions repository to the fleet over git's smart HTTP protocol (v0 and v2, as JGit's
 * {@code UploadPack} speaks them), so agents replicate it with a real git fetch: {@code GET
 * /definitions.git/info/refs?service=git-upload-pack} and {@code POST /definitions.git/git-upload-pack},
 * nothing else. Read-only: push is refused, the controller alone commits.
 *
 * <p>Same trust as the gRPC port: TLS 1.3, client certificate required and signed by the fleet CA; the
 * certificate's identity decides ({@link GitHttpHandler#mayFetch}). Requests, headers and connections are
 * bounded ({@link Limits}); the server has its own one-thread event loop and a few workers for JGit, which
 * blocks. {@link #close} stops it all.
 */
public final class GitHttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GitHttpServer.class);

    /** Where agents find it unless configured otherwise (the gRPC port is 7440). */
    public static final int DEFAULT_PORT = 7443;
    /** The one repository served, as its URL path. */
    public static final String REPOSITORY_PATH = "/definitions.git";

    /**
     * Bounds of one server.
     *
     * @param maxRequestBytes    largest request body, after gzip is undone (a fetch's wants and haves)
     * @param handshakeTimeout   time for a client to finish the TLS handshake
     * @param requestTimeout     time for a client to send a whole request once it started one
     * @param idleTimeout        a connection with no traffic either way for this long is closed
     * @param writeTimeout       a client that reads nothing of a response for this long is cut off
     * @param maxConnections     open connections at once; more are closed on arrival
     * @param workers            requests served at once (threads running JGit)
     * @param queuedRequests     requests waiting for a worker; more are answered 503
     */
    public record Limits(int maxRequestBytes, Duration handshakeTimeout, Duration requestTimeout, Duration idleTimeout,
                         Duration writeTimeout, int maxConnections, int workers, int queuedRequests) {
        public Limits {
            if (maxRequestBytes < 1024 || maxConnections < 1 || workers < 1 || queuedRequests < 0) {
                throw new IllegalArgumentException("git HTTP limits out of range: " + maxRequestBytes + " request bytes (>= 1024), "
                        + maxConnections + " connections (>= 1), " + workers + " workers (>= 1), " + queuedRequests + " queued (>= 0)");
            }
        }

        /**
         * Enough for a few hundred agents fetching a repository of VM definitions. A connection has one request in
         * flight at most, so the queue holds one per connection: after a commit every agent fetches within a
         * heartbeat or two, and with a shorter queue most of a 200-host fleet was refused ("too many requests at
         * once") and had to retry later. Queued requests cost a connection each, which is bounded already.
         */
        public static Limits defaults() {
            return new Limits(4 * 1024 * 1024, Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60),
                    Duration.ofSeconds(30), 512, 2, 512);
        }
    }

    private final Repository repository;
    private final ThreadPoolExecutor workers;
    private final BoundedListener listener;
    private final AtomicBoolean closed = new AtomicBoolean();

    private GitHttpServer(Repository repository, ThreadPoolExecutor workers, BoundedListener listener) {
        this.repository = repository;
        this.workers = workers;
        this.listener = listener;
    }

    /** Starts serving {@code definitions} on {@code bind} (port 0: any free port, see {@link #port()}). */
    public static GitHttpServer start(DefinitionsRepo definitions, TlsCredentials tls, InetSocketAddress bind, Limits limits)
            throws IOException {
        return start(definitions, tls, bind, limits, (holder, certificate) -> java.util.Optional.empty());
    }

    /** The same, refusing at every request the certificates {@code revocations} names (revoked operators). */
    public static GitHttpServer start(DefinitionsRepo definitions, TlsCredentials tls, InetSocketAddress bind, Limits limits,
                                      Authorization.Revocations revocations) throws IOException {
        SslContext sslContext = tls.httpsServerContext();
        Repository repository = new FileRepositoryBuilder().setGitDir(definitions.root().resolve(".git").toFile())
                .setMustExist(true).build();
        ThreadPoolExecutor workers = new ThreadPoolExecutor(limits.workers(), limits.workers(), 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(Math.max(1, limits.queuedRequests())), new DefaultThreadFactory("vf-git-http", true));
        workers.allowCoreThreadTimeOut(true);
        try {
            BoundedListener listener = BoundedListener.bind("git-http", bind, limits.maxConnections(), ch -> {
                SslHandler ssl = sslContext.newHandler(ch.alloc());
                ssl.setHandshakeTimeoutMillis(limits.handshakeTimeout().toMillis());
                RequestDeadline deadline = new RequestDeadline(limits.requestTimeout());
                ch.pipeline()
                        .addLast("tls", ssl)
                        .addLast("idle", new IdleStateHandler(0, 0, limits.idleTimeout().toMillis(), TimeUnit.MILLISECONDS))
                        .addLast("deadline", deadline.arm)
                        .addLast("http", new HttpServerCodec(new HttpDecoderConfig()
                                .setMaxInitialLineLength(4096).setMaxHeaderSize(8192).setMaxChunkSize(64 * 1024)))
                        .addLast("gunzip", new HttpContentDecompressor(false, limits.maxRequestBytes()))
                        .addLast("aggregate", new HttpObjectAggregator(limits.maxRequestBytes()))
                        .addLast("complete", deadline.disarm)
                        .addLast("git", new GitHttpHandler(repository, workers, limits, revocations));
            });
            GitHttpServer server = new GitHttpServer(repository, workers, listener);
            InetSocketAddress bound = listener.address();
            log.info("serving the definitions repository at https://{}:{}{} (TLS {})", bound.getHostString(), bound.getPort(),
                    REPOSITORY_PATH, TlsCredentials.engine());
            return server;
        } catch (IOException | RuntimeException e) {
            workers.shutdownNow();
            repository.close();
            throw new IOException("cannot serve the definitions repository on " + bind + ": " + e.getMessage(), e);
        }
    }

    public InetSocketAddress address() {
        return listener.address();
    }

    public int port() {
        return address().getPort();
    }

    /** Stops listening, closes open connections, lets requests in flight end for a few seconds. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        listener.closeDraining(workers);
        repository.close();
    }
}
