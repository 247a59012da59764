package io.virtfleet.common.transport;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerStreamTracer;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.virtfleet.common.validation.Endpoint;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * The one place that builds gRPC servers and channels, so every connection in the fleet gets the same
 * transport settings (and, with the security work, the same TLS). Each {@code Transport} owns a small
 * Netty event loop group shared by everything it builds; size it to the process (one thread is plenty
 * for an agent).
 */
public final class Transport implements AutoCloseable {
    /** Agents are idle most of the time; pings keep NAT and firewalls from dropping the connection. */
    private static final long KEEPALIVE_SECONDS = 30;
    private static final int MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

    private final EventLoopGroup eventLoops;

    public Transport(String name, int threads) {
        this.eventLoops = new NioEventLoopGroup(threads, new DefaultThreadFactory("vf-" + name + "-io", true));
    }

    /**
     * Starts a server on the given address. {@code executor} runs the service methods; pass a
     * direct executor only for handlers that never block.
     */
    public Server startServer(InetSocketAddress bind, Executor executor, List<BindableService> services,
                              List<ServerInterceptor> interceptors) throws IOException {
        return startServer(bind, executor, services, interceptors, List.of());
    }

    /**
     * As {@link #startServer(InetSocketAddress, Executor, List, List)}, with stream tracers: they see each
     * call from the moment its headers arrive on the event loop to the moment its stream closes, which
     * is where to measure server-side latency.
     */
    public Server startServer(InetSocketAddress bind, Executor executor, List<BindableService> services,
                              List<ServerInterceptor> interceptors, List<ServerStreamTracer.Factory> tracers)
            throws IOException {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(bind)
                .channelType(NioServerSocketChannel.class)
                .bossEventLoopGroup(eventLoops)
                .workerEventLoopGroup(eventLoops)
                .executor(executor)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(KEEPALIVE_SECONDS / 2, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true);
        for (ServerStreamTracer.Factory tracer : tracers) {
            builder.addStreamTracerFactory(tracer);
        }
        for (BindableService service : services) {
            builder.addService(ServerInterceptors.intercept(service, interceptors));
        }
        return builder.build().start();
    }

    /** A channel to {@code target}; it connects lazily and reconnects by itself. */
    public ManagedChannel channel(Endpoint target, Executor executor) {
        return NettyChannelBuilder.forAddress(target.bareHost(), target.port())
                .channelType(NioSocketChannel.class)
                .eventLoopGroup(eventLoops)
                .executor(executor)
                .usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .keepAliveTime(KEEPALIVE_SECONDS, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true)
                .build();
    }

    @Override
    public void close() {
        eventLoops.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
