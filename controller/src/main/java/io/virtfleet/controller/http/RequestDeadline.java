package io.virtfleet.controller.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes a connection whose client started a request and did not finish it in time: a slow sender would
 * otherwise hold a connection forever, a trickle of bytes resetting the idle timer each time. Armed by the
 * first bytes of a request (before the HTTP codec, so slow headers count), disarmed when the request is
 * whole (after the aggregator).
 */
public final class RequestDeadline {
    private static final Logger log = LoggerFactory.getLogger(RequestDeadline.class);

    private final Duration timeout;
    private ScheduledFuture<?> pending;

    public RequestDeadline(Duration timeout) {
        this.timeout = timeout;
    }

    public final ChannelInboundHandlerAdapter arm = new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
            if (msg instanceof ByteBuf && pending == null) {
                pending = ctx.executor().schedule(() -> {
                    log.warn("closed the connection of {}: no complete request within {} ms", ctx.channel().remoteAddress(),
                            timeout.toMillis());
                    ctx.close();
                }, timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
            super.channelRead(ctx, msg);
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            if (pending != null) {
                pending.cancel(false);
            }
        }
    };

    public final ChannelInboundHandlerAdapter disarm = new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
            if (msg instanceof FullHttpRequest && pending != null) {
                pending.cancel(false);
                pending = null;
            }
            super.channelRead(ctx, msg);
        }
    };
}
