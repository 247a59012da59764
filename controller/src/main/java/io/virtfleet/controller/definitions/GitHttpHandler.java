package io.virtfleet.controller.definitions;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.FleetIdentity;
import java.io.ByteArrayInputStream;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.eclipse.jgit.errors.PackProtocolException;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.transport.PacketLineOut;
import org.eclipse.jgit.transport.RefAdvertiser.PacketLineOutRefAdvertiser;
import org.eclipse.jgit.transport.ServiceMayNotContinueException;
import org.eclipse.jgit.transport.UploadPack;
import org.eclipse.jgit.transport.UploadPackInternalServerErrorException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTPS connection to the git server: decides who the caller is (from its certificate, verified by TLS
 * against the fleet CA), routes the two requests of git's smart HTTP fetch and refuses everything else.
 * Requests are served one at a time on a worker (JGit blocks); the connection reads nothing meanwhile.
 */
final class GitHttpHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(GitHttpHandler.class);

    static final String UPLOAD_PACK = "git-upload-pack";
    static final String RECEIVE_PACK = "git-receive-pack";
    static final String INFO_REFS = GitHttpServer.REPOSITORY_PATH + "/info/refs";
    static final String UPLOAD_PACK_PATH = GitHttpServer.REPOSITORY_PATH + "/" + UPLOAD_PACK;
    static final String RECEIVE_PACK_PATH = GitHttpServer.REPOSITORY_PATH + "/" + RECEIVE_PACK;
    static final String UPLOAD_PACK_REQUEST = "application/x-git-upload-pack-request";
    static final String UPLOAD_PACK_RESULT = "application/x-git-upload-pack-result";
    static final String UPLOAD_PACK_ADVERTISEMENT = "application/x-git-upload-pack-advertisement";
    /** The header a client asks for protocol v2 with ("version=2"). */
    static final String GIT_PROTOCOL = "Git-Protocol";

    private final Repository repository;
    private final Executor workers;
    private final GitHttpServer.Limits limits;
    private final Authorization.Revocations revocations;
    private FleetIdentity caller;
    private X509Certificate callerCertificate;
    private boolean busy;

    GitHttpHandler(Repository repository, Executor workers, GitHttpServer.Limits limits,
                   Authorization.Revocations revocations) {
        this.repository = repository;
        this.workers = workers;
        this.limits = limits;
        this.revocations = revocations;
    }

    /**
     * Who may fetch the definitions: every party of the fleet. Agents pull them to replicate, the controller
     * may read its own, operators may clone them (read-only, like any viewer). Written as a switch over
     * every kind so that a new kind of identity must be decided on here.
     */
    static boolean mayFetch(FleetIdentity identity) {
        return switch (identity.kind()) {
            case AGENT, CONTROLLER, OPERATOR -> true;
        };
    }

    /** One request, copied off Netty's buffers so the worker owns it. */
    private record Request(HttpMethod method, String uri, HttpHeaders headers, byte[] body, boolean keepAlive,
                           DecoderResult decoded) {
        static Request of(FullHttpRequest r) {
            return new Request(r.method(), r.uri(), r.headers().copy(), ByteBufUtil.getBytes(r.content()),
                    HttpUtil.isKeepAlive(r), r.decoderResult());
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
        if (event instanceof SslHandshakeCompletionEvent handshake) {
            if (handshake.isSuccess()) {
                callerCertificate = certificate(ctx.pipeline().get(SslHandler.class)).orElse(null);
                caller = callerCertificate == null ? null : FleetIdentity.of(callerCertificate).orElse(null);
            } else {
                log.warn("refused a TLS connection from {}: {}", ctx.channel().remoteAddress(), reason(handshake.cause()));
                ctx.close();
            }
        } else if (event instanceof IdleStateEvent && !busy) {
            ctx.close();
        }
        super.userEventTriggered(ctx, event);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest full)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        Request request;
        try {
            request = Request.of(full);
        } finally {
            full.release();
        }
        if (busy) {
            // A client pipelining requests: answers would have to be queued in order; git never does this.
            log.warn("closed the connection of {}: a second request arrived before the first was answered", who(ctx));
            ctx.close();
            return;
        }
        busy = true;
        ctx.channel().config().setAutoRead(false);
        try {
            workers.execute(() -> serve(ctx, request));
        } catch (RejectedExecutionException e) {
            log.warn("refused {} {} from {}: too many requests at once", request.method(), request.uri(), who(ctx));
            FullHttpResponse busyResponse = text(HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "the definitions server is busy; retry in a few seconds\n");
            busyResponse.headers().set(HttpHeaderNames.RETRY_AFTER, "5");
            send(ctx.channel(), busyResponse, false);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("connection from {} failed: {}", ctx.channel().remoteAddress(), reason(cause));
        ctx.close();
    }

    private void serve(ChannelHandlerContext ctx, Request request) {
        Channel channel = ctx.channel();
        if (request.decoded().isFailure()) {
            Throwable cause = request.decoded().cause();
            HttpResponseStatus status = cause instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : cause instanceof TooLongHttpHeaderException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : HttpResponseStatus.BAD_REQUEST;
            send(channel, text(status, "malformed HTTP request: " + reason(cause) + "\n"), false);
            return;
        }
        // Asked at every request: a certificate revoked while its connection is open is refused from then on.
        java.util.Optional<String> revoked = caller == null ? java.util.Optional.empty() : revocations.refusal(caller, callerCertificate);
        if (revoked.isPresent()) {
            log.warn("refused {} {} from {}: {}", request.method(), request.uri(), who(ctx), revoked.get());
            send(channel, text(HttpResponseStatus.FORBIDDEN, revoked.get() + "\n"), false);
            return;
        }
        if (caller == null || !mayFetch(caller)) {
            log.warn("refused {} {} from {}: not a fleet identity allowed to fetch", request.method(), request.uri(), who(ctx));
            send(channel, text(HttpResponseStatus.FORBIDDEN, (caller == null ? "a certificate naming a virtfleet identity"
                    : caller.toString()) + " may not read the definitions repository\n"), false);
            return;
        }
        QueryStringDecoder query = new QueryStringDecoder(request.uri());
        String path = query.rawPath();
        List<String> service = query.parameters().getOrDefault("service", List.of());
        long start = System.nanoTime();
        if (path.equals(INFO_REFS)) {
            if (!request.method().equals(HttpMethod.GET)) {
                notAllowed(channel, request, "GET");
            } else if (service.equals(List.of(UPLOAD_PACK))) {
                advertise(ctx, request, start);
            } else if (service.equals(List.of(RECEIVE_PACK))) {
                readOnly(ctx, request);
            } else {
                send(channel, text(HttpResponseStatus.FORBIDDEN, "only git's smart HTTP protocol is served: ask for "
                        + INFO_REFS + "?service=" + UPLOAD_PACK + "\n"), request.keepAlive());
            }
        } else if (path.equals(UPLOAD_PACK_PATH)) {
            if (!request.method().equals(HttpMethod.POST)) {
                notAllowed(channel, request, "POST");
            } else {
                upload(ctx, request, start);
            }
        } else if (path.equals(RECEIVE_PACK_PATH)) {
            readOnly(ctx, request);
        } else {
            log.debug("no {} for {}", path, caller);
            send(channel, text(HttpResponseStatus.NOT_FOUND, "not found: only " + GitHttpServer.REPOSITORY_PATH
                    + " is served here\n"), request.keepAlive());
        }
    }

    private void advertise(ChannelHandlerContext ctx, Request request, long start) {
        HttpHeaders headers = noCache().set(HttpHeaderNames.CONTENT_TYPE, UPLOAD_PACK_ADVERTISEMENT);
        HttpResponseBody body = body(ctx, headers, request.keepAlive());
        try (UploadPack up = uploadPack(request)) {
            up.sendAdvertisedRefs(new PacketLineOutRefAdvertiser(new PacketLineOut(body)), UPLOAD_PACK);
            body.close();
            log.debug("advertised refs to {} ({} bytes, {} ms)", caller, body.bytes(), millisSince(start));
        } catch (Exception e) {
            fail(ctx, request, body, e);
        }
    }

    private void upload(ChannelHandlerContext ctx, Request request, long start) {
        String type = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
        if (!UPLOAD_PACK_REQUEST.equals(type)) {
            send(ctx.channel(), text(HttpResponseStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type " + type
                    + " is not accepted; expected " + UPLOAD_PACK_REQUEST + "\n"), false);
            return;
        }
        HttpHeaders headers = noCache().set(HttpHeaderNames.CONTENT_TYPE, UPLOAD_PACK_RESULT);
        HttpResponseBody body = body(ctx, headers, request.keepAlive());
        try (UploadPack up = uploadPack(request)) {
            up.upload(new ByteArrayInputStream(request.body()), body, null);
            body.close();
            log.debug("sent upload-pack response to {} ({} bytes, {} ms)", caller, body.bytes(), millisSince(start));
        } catch (ServiceMayNotContinueException e) {
            if (e.isOutput()) {
                finishQuietly(body); // the reason went to the client in the body
            } else {
                fail(ctx, request, body, e);
            }
        } catch (UploadPackInternalServerErrorException e) {
            log.warn("upload-pack for {} failed: {}", caller, reason(e.getCause() == null ? e : e.getCause()));
            finishQuietly(body); // the client got an ERR packet
        } catch (Exception e) {
            fail(ctx, request, body, e);
        }
    }

    private UploadPack uploadPack(Request request) {
        UploadPack up = new UploadPack(repository);
        up.setBiDirectionalPipe(false); // stateless: each HTTP request is one round of the conversation
        up.setTimeout(0);                // bounded by the server's own request and write timeouts
        String protocol = request.headers().get(GIT_PROTOCOL);
        if (protocol != null) {
            up.setExtraParameters(List.of(protocol.split(":")));
        }
        return up;
    }

    private void readOnly(ChannelHandlerContext ctx, Request request) {
        log.warn("refused a push from {}: the definitions repository is read-only", caller);
        send(ctx.channel(), text(HttpResponseStatus.FORBIDDEN, "the definitions repository is read-only over HTTP: "
                + "push is not served; the controller commits every change itself\n"), request.keepAlive());
    }

    private void notAllowed(Channel channel, Request request, String allowed) {
        FullHttpResponse response = text(HttpResponseStatus.METHOD_NOT_ALLOWED, request.method() + " is not accepted on "
                + new QueryStringDecoder(request.uri()).rawPath() + "; expected " + allowed + "\n");
        response.headers().set(HttpHeaderNames.ALLOW, allowed);
        send(channel, response, request.keepAlive());
    }

    private void fail(ChannelHandlerContext ctx, Request request, HttpResponseBody body, Exception e) {
        boolean clientsFault = e instanceof PackProtocolException;
        if (clientsFault) {
            log.warn("bad git request from {}: {}", caller, reason(e));
        } else {
            log.warn("cannot serve {} {} to {}: {}", request.method(), request.uri(), caller, reason(e), e);
        }
        if (body.isCommitted()) {
            body.abort();
        } else {
            send(ctx.channel(), text(clientsFault ? HttpResponseStatus.BAD_REQUEST : HttpResponseStatus.INTERNAL_SERVER_ERROR,
                    (clientsFault ? "bad git request: " + reason(e) : "the definitions repository cannot be read") + "\n"), false);
        }
    }

    private void finishQuietly(HttpResponseBody body) {
        try {
            body.close();
        } catch (java.io.IOException e) {
            body.abort();
        }
    }

    private HttpResponseBody body(ChannelHandlerContext ctx, HttpHeaders headers, boolean keepAlive) {
        return new HttpResponseBody(ctx.channel(), HttpResponseStatus.OK, headers, keepAlive, limits.writeTimeout(),
                () -> readNext(ctx));
    }

    /** Lets the connection read its next request (on its event loop, where {@link #busy} lives). */
    private void readNext(ChannelHandlerContext ctx) {
        ctx.executor().execute(() -> {
            busy = false;
            ctx.channel().config().setAutoRead(true);
            ctx.read();
        });
    }

    private void send(Channel channel, FullHttpResponse response, boolean keepAlive) {
        if (!keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        channel.writeAndFlush(response).addListener(keepAlive
                ? (ChannelFutureListener) f -> {
                    if (f.isSuccess()) {
                        readNext(channel.pipeline().context(this));
                    }
                }
                : ChannelFutureListener.CLOSE);
    }

    private static FullHttpResponse text(HttpResponseStatus status, String message) {
        byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(bytes));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        noCache(response.headers());
        return response;
    }

    private static HttpHeaders noCache() {
        return noCache(new DefaultHttpHeaders());
    }

    private static HttpHeaders noCache(HttpHeaders headers) {
        return headers.set(HttpHeaderNames.CACHE_CONTROL, "no-cache, max-age=0, must-revalidate")
                .set(HttpHeaderNames.PRAGMA, "no-cache")
                .set(HttpHeaderNames.EXPIRES, "Fri, 01 Jan 1980 00:00:00 GMT");
    }

    private static java.util.Optional<X509Certificate> certificate(SslHandler ssl) {
        try {
            Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate leaf ? java.util.Optional.of(leaf) : java.util.Optional.empty();
        } catch (SSLPeerUnverifiedException e) {
            return java.util.Optional.empty();
        }
    }

    private String who(ChannelHandlerContext ctx) {
        SocketAddress remote = ctx.channel().remoteAddress();
        return (caller == null ? "an unidentified client" : caller.toString()) + " at " + remote;
    }

    private static long millisSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    private static String reason(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        return message == null ? root.getClass().getSimpleName() : message;
    }
}
