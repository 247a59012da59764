package io.virtfleet.controller.install;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
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

    private final EventLoopGroup eventLoop;
    private final ThreadPoolExecutor workers;
    private final ChannelGroup connections;
    private final Channel listener;
    private final AtomicBoolean closed = new AtomicBoolean();

    private InstallHttpServer(EventLoopGroup eventLoop, ThreadPoolExecutor workers, ChannelGroup connections,
                              Channel listener) {
        this.eventLoop = eventLoop;
        this.workers = workers;
        this.connections = connections;
        this.listener = listener;
    }

    /** Starts serving on {@code bind} (port 0: any free port, see {@link #port()}). */
    public static InstallHttpServer start(Installs installs, InetSocketAddress bind) throws IOException {
        EventLoopGroup eventLoop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("vf-install-http-io", true),
                NioIoHandler.newFactory());
        ThreadPoolExecutor workers = new ThreadPoolExecutor(WORKERS, WORKERS, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(QUEUED), new DefaultThreadFactory("vf-install-http", true));
        workers.allowCoreThreadTimeOut(true);
        ChannelGroup connections = new DefaultChannelGroup("install-http", GlobalEventExecutor.INSTANCE);
        try {
            Channel listener = new ServerBootstrap()
                    .group(eventLoop)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 128)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            if (connections.size() >= MAX_CONNECTIONS) {
                                log.warn("refused a connection from {}: already {} open", ch.remoteAddress(), connections.size());
                                ch.close();
                                return;
                            }
                            connections.add(ch);
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
                        }
                    })
                    .bind(bind).syncUninterruptibly().channel();
            InetSocketAddress bound = (InetSocketAddress) listener.localAddress();
            log.info("serving installers at http://{}:{}/install/ (VMs use {})", bound.getHostString(), bound.getPort(),
                    installs.boot().installUrl().isEmpty() ? "no install-url: none armed" : installs.boot().installUrl());
            return new InstallHttpServer(eventLoop, workers, connections, listener);
        } catch (RuntimeException e) {
            workers.shutdownNow();
            eventLoop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException("cannot serve installers on " + bind + ": " + e.getMessage(), e);
        }
    }

    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        listener.close().syncUninterruptibly();
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        workers.shutdownNow();
        eventLoop.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
