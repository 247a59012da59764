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
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves the dashboard's requests off the event loop: each whole request is copied into a {@link DashboardRequest},
 * handed to the workers, and its {@link DashboardResponse} written back with the security headers every page gets.
 * One connection's requests are answered one at a time, in the order they came: a client that pipelines (sends the
 * next request before the answer to the previous one) gets its answers in order, and the connection is not read
 * while an answer is being made.
 */
final class DashboardHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(DashboardHandler.class);
    /** Scripts and styles from this server only, no inline script or style, no framing, forms posted here only. */
    static final String CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
            + " frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
    static final String HSTS = "max-age=31536000";
    /** Requests of one connection read ahead of their answer (pipelined in one read); more closes the connection. */
    static final int MAX_WAITING = 16;
    private static final Pattern IPV4 = Pattern.compile("[0-9.]+");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Function<DashboardRequest, DashboardResponse> routes;
    private final Executor workers;
    /** The DNS names among dashboard-names, lower case: the only hosts told to use HTTPS for good (HSTS). */
    private final Set<String> hstsNames;
    /** Requests read and not answered yet, oldest first; touched on the channel's event loop only. */
    private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
    /** Whether the oldest of {@link #waiting} is being answered; event loop only. */
    private boolean answering;

    /** A request to answer in turn: by the routes, or already answered (a malformed one). */
    private record Waiting(DashboardRequest request, DashboardResponse answer, boolean keepAlive) {}

    /** @param names the dashboard's names (dashboard-names): HSTS is sent to the DNS names among them only */
    DashboardHandler(Function<DashboardRequest, DashboardResponse> routes, Executor workers, List<String> names) {
        this.routes = routes;
        this.workers = workers;
        this.hstsNames = names.stream().map(n -> n.toLowerCase(Locale.ROOT)).filter(DashboardHandler::dnsName)
                .collect(Collectors.toUnmodifiableSet());
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        waiting.add(copy(request));
        if (waiting.size() > MAX_WAITING) {
            log.debug("dashboard connection from {}: more than {} requests ahead of their answers; closed",
                    ctx.channel().remoteAddress(), MAX_WAITING);
            waiting.clear();
            ctx.close();
            return;
        }
        if (!answering) {
            answerNext(ctx);
        }
    }

    private static Waiting copy(FullHttpRequest request) {
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        if (!request.decoderResult().isSuccess()) {
            return new Waiting(null, DashboardResponse.text(HttpResponseStatus.BAD_REQUEST, "malformed request"), false);
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
        return new Waiting(copy, null, keepAlive);
    }

    /** Answers the oldest waiting request, or reads the connection again when none waits. On the event loop. */
    private void answerNext(ChannelHandlerContext ctx) {
        Waiting next = waiting.poll();
        if (next == null) {
            answering = false;
            ctx.channel().config().setAutoRead(true);
            return;
        }
        answering = true;
        ctx.channel().config().setAutoRead(false); // pipelined requests wait in the socket, not here
        if (next.answer() != null) {
            send(ctx, next.answer(), next.request(), next.keepAlive());
            return;
        }
        DashboardRequest request = next.request();
        try {
            workers.execute(() -> send(ctx, answer(request), request, next.keepAlive()));
        } catch (RejectedExecutionException e) {
            send(ctx, DashboardResponse.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "too many requests at once; try again"),
                    request, false);
        }
    }

    /** The routes' answer; a failure is logged under an id the browser is shown, never with its own words. */
    private DashboardResponse answer(DashboardRequest request) {
        try {
            return routes.apply(request);
        } catch (RuntimeException e) {
            String id = HexFormat.of().formatHex(randomBytes());
            log.error("dashboard: {} {} failed (error {})", request.method(), request.path(), id, e);
            return DashboardResponse.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error " + id
                    + ": the controller's log says what went wrong, under this id");
        }
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[6];
        RANDOM.nextBytes(b);
        return b;
    }

    private void send(ChannelHandlerContext ctx, DashboardResponse r, DashboardRequest request, boolean keepAlive) {
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
        if (request != null && hsts(request.host())) {
            h.set("Strict-Transport-Security", HSTS);
        }
        r.headers().forEach(h::add);
        r.cookies().forEach(cookie -> h.add(HttpHeaderNames.SET_COOKIE, cookie));
        if (keepAlive) {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            // The listener runs on the event loop, as every other touch of the waiting requests.
            ctx.writeAndFlush(response).addListener((ChannelFutureListener) written -> {
                if (written.isSuccess()) {
                    answerNext(ctx);
                } else {
                    waiting.clear();
                    ctx.close();
                }
            });
        } else {
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }

    /**
     * Whether the browser is told to use HTTPS for this host for a year: only for a DNS name of the dashboard's. HSTS
     * holds for every port of the host, so on localhost or an IP address (the documented SSH tunnel reaches
     * https://localhost:7447) it would force HTTPS on the operator's other local services too.
     */
    boolean hsts(String hostHeader) {
        if (hostHeader == null || hostHeader.startsWith("[")) {
            return false; // none, or an IPv6 address
        }
        int colon = hostHeader.indexOf(':');
        String host = (colon < 0 ? hostHeader : hostHeader.substring(0, colon)).toLowerCase(Locale.ROOT);
        return hstsNames.contains(host);
    }

    /** A name HSTS may be sent for: not an IP address, not localhost. */
    private static boolean dnsName(String name) {
        return !name.contains(":") && !IPV4.matcher(name).matches() && !name.equals("localhost")
                && !name.endsWith(".localhost");
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
