package io.virtfleet.controller.definitions;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Arrays;

/**
 * The body of one HTTP response, written by a blocking producer (JGit's {@code UploadPack}) on a worker
 * thread. A body that fits the buffer goes out as one response with a Content-Length; a longer one goes out
 * in chunks, each write waiting until Netty has handed the previous chunk to the socket, so a client that
 * stops reading holds one buffer of memory and is cut off after the write timeout. Until the first chunk
 * leaves, the response can still be replaced by an error ({@link #isCommitted()}).
 */
final class HttpResponseBody extends OutputStream {
    static final int BUFFER_BYTES = 64 * 1024;

    private final Channel channel;
    private final HttpResponseStatus status;
    private final HttpHeaders headers;
    private final boolean keepAlive;
    private final Duration writeTimeout;
    private final Runnable whenDone;
    private byte[] buffer = new byte[BUFFER_BYTES];
    private int count;
    private boolean committed;
    private boolean closed;
    private long total;

    /**
     * @param whenDone runs once the whole response is on its way (and the connection kept alive): lets the
     *                 connection read its next request
     */
    HttpResponseBody(Channel channel, HttpResponseStatus status, HttpHeaders headers, boolean keepAlive,
                     Duration writeTimeout, Runnable whenDone) {
        this.channel = channel;
        this.status = status;
        this.headers = headers;
        this.keepAlive = keepAlive;
        this.writeTimeout = writeTimeout;
        this.whenDone = whenDone;
    }

    boolean isCommitted() {
        return committed;
    }

    long bytes() {
        return total + count;
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (closed) {
            throw new IOException("response already finished");
        }
        while (len > 0) {
            if (count == buffer.length) {
                sendChunk();
            }
            int n = Math.min(len, buffer.length - count);
            System.arraycopy(b, off, buffer, count, n);
            count += n;
            off += n;
            len -= n;
        }
    }

    /** Sends what is buffered: JGit flushes after each progress or keep-alive packet the client should see now. */
    @Override
    public void flush() throws IOException {
        if (!closed && count > 0) {
            sendChunk();
        }
    }

    /** Finishes the response. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        ChannelFuture last;
        if (!committed) {
            committed = true;
            DefaultFullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                    Unpooled.wrappedBuffer(buffer, 0, count));
            response.headers().set(headers).setInt(HttpHeaderNames.CONTENT_LENGTH, count);
            connectionHeader(response);
            last = channel.writeAndFlush(response);
        } else {
            if (count > 0) {
                sendChunk();
            }
            last = channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        }
        total += count;
        count = 0;
        buffer = null;
        if (keepAlive) {
            last.addListener(f -> {
                if (f.isSuccess()) {
                    whenDone.run();
                }
            });
        } else {
            last.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** Gives up on a response already under way: the client sees the connection close mid-body. */
    void abort() {
        closed = true;
        buffer = null;
        channel.close();
    }

    private void sendChunk() throws IOException {
        if (!committed) {
            committed = true;
            HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, status);
            head.headers().set(headers).set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
            connectionHeader(head);
            channel.write(head);
        }
        ChannelFuture sent = channel.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(Arrays.copyOf(buffer, count))));
        total += count;
        count = 0;
        try {
            if (!sent.await(writeTimeout.toMillis())) {
                channel.close();
                throw new IOException("the client read nothing for " + writeTimeout.toSeconds() + " s; connection closed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.close();
            throw new InterruptedIOException("interrupted while sending a response");
        }
        if (!sent.isSuccess()) {
            throw new IOException("cannot send the response: " + sent.cause().getMessage(), sent.cause());
        }
    }

    private void connectionHeader(HttpResponse response) {
        if (!keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
    }
}
