package io.virtfleet.controller.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listening socket of one of the controller's HTTP servers, on a one-thread event loop of its own, that closes
 * connections beyond a bound on arrival (each costs memory and a slot of the server's workers' queue). The
 * server's own pipeline is added to every accepted connection by the caller's {@code pipeline}.
 */
public final class BoundedListener {
    private static final Logger log = LoggerFactory.getLogger(BoundedListener.class);

    private final EventLoopGroup eventLoop;
    private final ChannelGroup connections;
    private final Channel listener;

    private BoundedListener(EventLoopGroup eventLoop, ChannelGroup connections, Channel listener) {
        this.eventLoop = eventLoop;
        this.connections = connections;
        this.listener = listener;
    }

    /**
     * Binds {@code bind} (port 0: any free port).
     *
     * @param name     names the threads ({@code vf-<name>-io}) and the connection group
     * @param pipeline sets up an accepted connection within the bound
     */
    public static BoundedListener bind(String name, InetSocketAddress bind, int maxConnections,
                                       Consumer<SocketChannel> pipeline) throws IOException {
        EventLoopGroup eventLoop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("vf-" + name + "-io", true),
                NioIoHandler.newFactory());
        ChannelGroup connections = new DefaultChannelGroup(name, GlobalEventExecutor.INSTANCE);
        try {
            Channel listener = new ServerBootstrap()
                    .group(eventLoop)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 128)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            if (connections.size() >= maxConnections) {
                                log.warn("{}: refused a connection from {}: already {} open", name, ch.remoteAddress(),
                                        connections.size());
                                ch.close();
                                return;
                            }
                            connections.add(ch);
                            pipeline.accept(ch);
                        }
                    })
                    .bind(bind).syncUninterruptibly().channel();
            return new BoundedListener(eventLoop, connections, listener);
        } catch (RuntimeException e) {
            eventLoop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IOException(e.getMessage(), e);
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    /** Stops accepting and closes the open connections (waiting up to 5 s); the event loop keeps running. */
    public void closeConnections() {
        listener.close().syncUninterruptibly();
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    /**
     * Stops accepting and closes the open connections, lets {@code workers} finish the requests in flight (5 s at
     * most, then interrupts them), then stops the event loop.
     */
    public void closeDraining(ExecutorService workers) {
        closeConnections();
        workers.shutdown();
        try {
            if (!workers.awaitTermination(5, TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            workers.shutdownNow();
        }
        close();
    }

    /** Closes connections if still open, then stops the event loop. */
    public void close() {
        closeConnections();
        eventLoop.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
