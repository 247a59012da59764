package io.virtfleet.common.transport;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServerStreamTracer;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.validation.Endpoint;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * The one place that builds gRPC servers and channels, so every connection in the fleet gets the same
 * transport settings: mutual TLS 1.3 with the fleet CA, keepalives, message limits. Each
 * {@code Transport} owns a small Netty event loop group shared by everything it builds; size it to the
 * process (one thread is plenty for an agent). Plaintext exists only for tests that ask for it by name.
 */
public final class Transport implements AutoCloseable {
    /** Agents are idle most of the time; pings keep NAT and firewalls from dropping the connection. */
    private static final long KEEPALIVE_SECONDS = 30;
    private static final int MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

    /**
     * Hands a message on as the stream gRPC reads it from or writes it to, without copying: the service's
     * own marshaller does the parsing, inside the call. Interceptors therefore must not keep a request
     * past their listener's {@code onMessage} (none of virtfleet's does).
     */
    private static final MethodDescriptor.Marshaller<InputStream> UNPARSED = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(InputStream value) {
            return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
            return stream;
        }
    };

    private final EventLoopGroup eventLoops;
    private final TlsCredentials tls;
    private final SslContext clientContext;

    private Transport(String name, int threads, TlsCredentials tls) {
        this.eventLoops = new NioEventLoopGroup(threads, new DefaultThreadFactory("vf-" + name + "-io", true));
        this.tls = tls;
        try {
            this.clientContext = tls == null ? null : tls.clientContext();
        } catch (SSLException e) {
            eventLoops.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw new IllegalStateException("cannot set up TLS: " + e.getMessage(), e);
        }
    }

    /** Mutual TLS with these credentials: the only mode of a deployed fleet. */
    public static Transport secure(String name, int threads, TlsCredentials tls) {
        return new Transport(name, threads, java.util.Objects.requireNonNull(tls, "tls"));
    }

    /** No TLS and no caller identities: only for tests and benchmarks that measure TLS's own cost. */
    public static Transport plaintextForTests(String name, int threads) {
        return new Transport(name, threads, null);
    }

    /** A transport that can only make enrollment channels (for an agent that has no certificate yet). */
    public static Transport forEnrollment(String name) {
        return new Transport(name, 1, null);
    }

    public boolean isSecure() {
        return tls != null;
    }

    /**
     * Starts a server on the given address. {@code executor} runs the service methods; pass a direct
     * executor only for handlers that never block. {@code tracers} see each call from its headers
     * arriving on the event loop to its stream closing: where to measure server-side latency. With
     * {@code allowAnonymous}, clients without a certificate may connect (for enrollment); an
     * {@code Authorization} interceptor must then refuse them everything else.
     */
    public Server startServer(InetSocketAddress bind, Executor executor, List<BindableService> services,
                              List<ServerInterceptor> interceptors, List<ServerStreamTracer.Factory> tracers,
                              boolean allowAnonymous) throws IOException {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(bind)
                .channelType(NioServerSocketChannel.class)
                .bossEventLoopGroup(eventLoops)
                .workerEventLoopGroup(eventLoops)
                .executor(executor)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(KEEPALIVE_SECONDS / 2, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true);
        if (tls != null) {
            builder.sslContext(tls.serverContext(allowAnonymous ? ClientAuth.OPTIONAL : ClientAuth.REQUIRE));
        }
        for (ServerStreamTracer.Factory tracer : tracers) {
            builder.addStreamTracerFactory(tracer);
        }
        for (BindableService service : services) {
            // Requests are parsed inside the call, below the interceptors, so that StatusMapping answers one
            // that is not the method's message with INVALID_ARGUMENT (parsed by gRPC itself, it is UNKNOWN).
            ServerServiceDefinition parsedInCall = ServerInterceptors.useMarshalledMessages(service.bindService(),
                    UNPARSED, UNPARSED);
            builder.addService(ServerInterceptors.intercept(parsedInCall, interceptors));
        }
        return builder.build().start();
    }

    /**
     * A channel to {@code target}, which must prove to be {@code peer} (its certificate is checked for
     * the peer's name, so a host cannot pose as the controller or as another host). It connects lazily
     * and reconnects by itself.
     */
    public ManagedChannel channel(Endpoint target, FleetIdentity peer, Executor executor) {
        NettyChannelBuilder builder = base(target, executor);
        if (tls != null) {
            builder.sslContext(clientContext).overrideAuthority(peer.dnsName());
        } else {
            builder.usePlaintext();
        }
        return builder.build();
    }

    /**
     * A channel for enrolling: no client certificate, and the controller is trusted only if its CA has the
     * fingerprint carried by the join token.
     */
    public ManagedChannel enrollmentChannel(Endpoint controller, String caFingerprint, Executor executor) throws SSLException {
        return base(controller, executor)
                .sslContext(TlsCredentials.pinnedClientContext(caFingerprint))
                .overrideAuthority(FleetIdentity.controller().dnsName())
                .build();
    }

    private NettyChannelBuilder base(Endpoint target, Executor executor) {
        return NettyChannelBuilder.forAddress(target.bareHost(), target.port())
                .channelType(NioSocketChannel.class)
                .eventLoopGroup(eventLoops)
                .executor(executor)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .keepAliveTime(KEEPALIVE_SECONDS, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true);
    }

    /** Stops a server: lets calls in flight finish for a few seconds, then cuts the rest. */
    public static void stop(Server server) {
        if (server == null) {
            return;
        }
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
    }

    @Override
    public void close() {
        eventLoops.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
