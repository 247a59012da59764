package io.virtfleet.controller.definitions;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContentDecompressor;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import io.virtfleet.common.security.TlsCredentials;
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
    private final EventLoopGroup eventLoop;
    private final ThreadPoolExecutor workers;
    private final ChannelGroup connections;
    private final Channel listener;
    private final AtomicBoolean closed = new AtomicBoolean();

    private GitHttpServer(Repository repository, EventLoopGroup eventLoop, ThreadPoolExecutor workers,
                          ChannelGroup connections, Channel listener) {
        this.repository = repository;
        this.eventLoop = eventLoop;
        this.workers = workers;
        this.connections = connections;
        this.listener = listener;
    }

    /** Starts serving {@code definitions} on {@code bind} (port 0: any free port, see {@link #port()}). */
    public static GitHttpServer start(DefinitionsRepo definitions, TlsCredentials tls, InetSocketAddress bind, Limits limits)
            throws IOException {
        SslContext sslContext = tls.httpsServerContext();
        Repository repository = new FileRepositoryBuilder().setGitDir(definitions.root().resolve(".git").toFile())
                .setMustExist(true).build();
        EventLoopGroup eventLoop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("vf-git-http-io", true),
                NioIoHandler.newFactory());
        ThreadPoolExecutor workers = new ThreadPoolExecutor(limits.workers(), limits.workers(), 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(Math.max(1, limits.queuedRequests())), new DefaultThreadFactory("vf-git-http", true));
        workers.allowCoreThreadTimeOut(true);
        ChannelGroup connections = new DefaultChannelGroup("git-http", GlobalEventExecutor.INSTANCE);
        try {
            Channel listener = new ServerBootstrap()
                    .group(eventLoop)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 128)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            if (connections.size() >= limits.maxConnections()) {
                                log.warn("refused a connection from {}: already {} open", ch.remoteAddress(), connections.size());
                                ch.close();
                                return;
                            }
                            connections.add(ch);
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
                                    .addLast("git", new GitHttpHandler(repository, workers, limits));
                        }
                    })
                    .bind(bind).syncUninterruptibly().channel();
            GitHttpServer server = new GitHttpServer(repository, eventLoop, workers, connections, listener);
            InetSocketAddress bound = (InetSocketAddress) listener.localAddress();
            log.info("serving the definitions repository at https://{}:{}{} (TLS {})", bound.getHostString(), bound.getPort(),
                    REPOSITORY_PATH, TlsCredentials.engine());
            return server;
        } catch (RuntimeException e) {
            workers.shutdownNow();
            eventLoop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            repository.close();
            throw new IOException("cannot serve the definitions repository on " + bind + ": " + e.getMessage(), e);
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
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
        listener.close().syncUninterruptibly();
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        workers.shutdown();
        try {
            if (!workers.awaitTermination(5, TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            workers.shutdownNow();
        }
        eventLoop.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        repository.close();
    }
}
