package io.virtfleet.controller.install;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import io.virtfleet.common.validation.Escape;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The install server's requests, one per connection (the installer's wget opens one for each fetch):
 * <ul>
 *   <li>{@code GET /install/<vm>/<token>/preseed.cfg}: the VM's preseed;</li>
 *   <li>{@code GET /install/<vm>/<token>/profiles/<profile>/post-install.sh}: a script of a profile the VM
 *       installs from;</li>
 *   <li>{@code GET /install/<vm>/<token>/done}: the installer's last act; the VM is installed.</li>
 * </ul>
 * Anything under {@code /install/} that is not exactly that with the VM's live token (unknown VM, wrong or spent
 * token, a segment that is no name: {@code ..}, {@code %2e}, slashes) is 403 with the same body whatever the
 * reason, so a prober learns nothing; the reason goes to the log. Other paths are 404, other methods 405.
 */
final class InstallHttpHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(InstallHttpHandler.class);
    private static final String NAME = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
    private static final Pattern PATH = Pattern.compile("/install/(" + NAME + ")/([A-Za-z0-9_-]{43})/"
            + "(preseed\\.cfg|done|profiles/(" + NAME + ")/post-install\\.sh)");
    private static final String REFUSED = "refused\n";

    private final Installs installs;
    private final Executor workers;

    InstallHttpHandler(Installs installs, Executor workers) {
        this.installs = installs;
        this.workers = workers;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest request)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        try {
            if (!request.decoderResult().isSuccess()) {
                reply(ctx, HttpResponseStatus.BAD_REQUEST, "text/plain", "bad request\n".getBytes(StandardCharsets.US_ASCII));
                return;
            }
            String uri = request.uri();
            if (!request.method().equals(HttpMethod.GET)) {
                reply(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "text/plain", "GET only\n".getBytes(StandardCharsets.US_ASCII));
                return;
            }
            if (!uri.startsWith("/install/")) {
                reply(ctx, HttpResponseStatus.NOT_FOUND, "text/plain", "not found\n".getBytes(StandardCharsets.US_ASCII));
                return;
            }
            Matcher m = PATH.matcher(uri);
            if (!m.matches()) {
                refuse(ctx, uri, "not a VM name, token and install file");
                return;
            }
            String vm = m.group(1);
            String token = m.group(3);
            String what = m.group(4);
            String profile = m.group(5);
            try {
                workers.execute(() -> serve(ctx, uri, vm, token, what, profile));
            } catch (RejectedExecutionException e) {
                log.warn("too many install requests at once; answered {} with 503", ctx.channel().remoteAddress());
                reply(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "text/plain", "busy, retry\n".getBytes(StandardCharsets.US_ASCII));
            }
        } finally {
            request.release();
        }
    }

    private void serve(ChannelHandlerContext ctx, String uri, String vm, String token, String what, String profile) {
        try {
            if (what.equals("preseed.cfg")) {
                Optional<String> preseed = installs.preseed(vm, token);
                if (preseed.isEmpty()) {
                    refuse(ctx, uri, "unknown VM " + vm + ", or not its live token");
                } else {
                    reply(ctx, HttpResponseStatus.OK, "text/plain; charset=utf-8", preseed.get().getBytes(StandardCharsets.UTF_8));
                }
            } else if (what.equals("done")) {
                if (installs.done(vm, token)) {
                    reply(ctx, HttpResponseStatus.OK, "text/plain", "installed\n".getBytes(StandardCharsets.US_ASCII));
                } else {
                    refuse(ctx, uri, "unknown VM " + vm + ", or not its live token (a second done?)");
                }
            } else {
                Optional<byte[]> script = installs.postInstall(vm, token, profile);
                if (script.isEmpty()) {
                    refuse(ctx, uri, "unknown VM " + vm + ", not its live token, or profile " + profile
                            + " is not one it installs from");
                } else {
                    reply(ctx, HttpResponseStatus.OK, "text/x-shellscript", script.get());
                }
            }
        } catch (Exception e) {
            log.error("cannot answer the installer of VM {} ({}): {}", vm, what, e.getMessage(), e);
            reply(ctx, HttpResponseStatus.INTERNAL_SERVER_ERROR, "text/plain", "error\n".getBytes(StandardCharsets.US_ASCII));
        }
    }

    private static void refuse(ChannelHandlerContext ctx, String uri, String reason) {
        // A token is a secret even in a malformed or refused path (it may be live, or a stale one): every run of
        // token characters long enough to be one is masked before the path is logged.
        String masked = uri.replaceAll("[A-Za-z0-9_-]{20,}", "<token>");
        String shown = Escape.quoted(masked.length() > 200 ? masked.substring(0, 200) + "..." : masked);
        log.warn("refused install request {} from {}: {}", shown, ctx.channel().remoteAddress(), reason);
        reply(ctx, HttpResponseStatus.FORBIDDEN, "text/plain", REFUSED.getBytes(StandardCharsets.US_ASCII));
    }

    private static void reply(ChannelHandlerContext ctx, HttpResponseStatus status, String type, byte[] body) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, type)
                .set(HttpHeaderNames.CONTENT_LENGTH, body.length)
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE)
                .set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
        if (event instanceof IdleStateEvent) {
            ctx.close();
        }
        super.userEventTriggered(ctx, event);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("install connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
