package io.virtfleet.controller.dashboard;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import io.netty.handler.timeout.IdleStateEvent;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves the dashboard's requests off the event loop: each whole request is copied into a {@link DashboardRequest},
 * handed to the workers, and its {@link DashboardResponse} written back with the security headers every page gets.
 */
final class DashboardHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(DashboardHandler.class);
    /** Scripts and styles from this server only, no inline script or style, no framing, forms posted here only. */
    static final String CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
            + " frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

    private final DashboardRoutes routes;
    private final Executor workers;

    DashboardHandler(DashboardRoutes routes, Executor workers) {
        this.routes = routes;
        this.workers = workers;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        if (!request.decoderResult().isSuccess()) {
            send(ctx, DashboardResponse.text(HttpResponseStatus.BAD_REQUEST, "malformed request"), false);
            return;
        }
        QueryStringDecoder uri = new QueryStringDecoder(request.uri());
        Map<String, String> cookies = new HashMap<>();
        String cookieHeader = request.headers().get(HttpHeaderNames.COOKIE);
        if (cookieHeader != null) {
            ServerCookieDecoder.STRICT.decode(cookieHeader).forEach(c -> cookies.putIfAbsent(c.name(), c.value()));
        }
        Map<String, List<String>> form = Map.of();
        String contentType = request.headers().get(HttpHeaderNames.CONTENT_TYPE, "");
        if (request.content().isReadable() && contentType.startsWith("application/x-www-form-urlencoded")) {
            form = new QueryStringDecoder(request.content().toString(StandardCharsets.UTF_8), false).parameters();
        }
        DashboardRequest copy = new DashboardRequest(request.method().name(), uri.path(), uri.parameters(), form, cookies,
                request.headers().get(HttpHeaderNames.ORIGIN), request.headers().get(HttpHeaderNames.HOST));
        try {
            workers.execute(() -> {
                DashboardResponse response;
                try {
                    response = routes.handle(copy);
                } catch (RuntimeException e) {
                    log.error("dashboard: {} {} failed", copy.method(), copy.path(), e);
                    response = DashboardResponse.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error: " + e);
                }
                send(ctx, response, keepAlive);
            });
        } catch (RejectedExecutionException e) {
            send(ctx, DashboardResponse.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "too many requests at once; try again"),
                    false);
        }
    }

    private static void send(ChannelHandlerContext ctx, DashboardResponse r, boolean keepAlive) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, r.status(),
                Unpooled.wrappedBuffer(r.body()));
        var h = response.headers();
        h.set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
        h.setInt(HttpHeaderNames.CONTENT_LENGTH, r.body().length);
        h.set(HttpHeaderNames.CONTENT_SECURITY_POLICY, CSP);
        h.set("X-Content-Type-Options", "nosniff");
        h.set("X-Frame-Options", "DENY");
        // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on this site's own form posts.
        h.set("Referrer-Policy", "same-origin");
        h.set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        h.set("Strict-Transport-Security", "max-age=31536000");
        r.headers().forEach(h::add);
        if (keepAlive) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(response);
        } else {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("dashboard connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
