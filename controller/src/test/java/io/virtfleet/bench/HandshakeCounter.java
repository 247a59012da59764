package io.virtfleet.bench;

import java.util.concurrent.atomic.LongAdder;
import jdk.jfr.consumer.RecordingStream;

/**
 * Counts the TLS handshakes this JVM completes, from the JDK's own {@code jdk.TLSHandshake} flight-recorder
 * event. JSSE emits it; BoringSSL (netty-tcnative) does not. The controller does its TLS in BoringSSL, so the
 * benchmarks count on the simulated agents' side, whose JVM uses the JDK's TLS as real agents do
 * ({@code -Dio.netty.handler.ssl.noOpenSsl=true}): every handshake the controller completes is one an agent
 * completed. (Counted in the controller's JVM, as before, this read 0 once the controller moved to BoringSSL.)
 * Events reach the stream about once a second, so a count read right after a burst can lag by up to that long.
 */
final class HandshakeCounter implements AutoCloseable {
    private final RecordingStream stream;
    private final LongAdder count = new LongAdder();

    private HandshakeCounter(RecordingStream stream) {
        this.stream = stream;
    }

    /** A running counter, or one that always answers -1 if this JVM cannot record or does its TLS natively. */
    static HandshakeCounter start() {
        if (io.netty.handler.ssl.OpenSsl.isAvailable()) {
            System.err.println("TLS handshakes not counted: this JVM's TLS is BoringSSL, which the flight recorder"
                    + " does not see (run it with -Dio.netty.handler.ssl.noOpenSsl=true)");
            return new HandshakeCounter(null);
        }
        try {
            RecordingStream stream = new RecordingStream();
            HandshakeCounter counter = new HandshakeCounter(stream);
            stream.enable("jdk.TLSHandshake");
            stream.onEvent("jdk.TLSHandshake", e -> counter.count.increment());
            stream.startAsync();
            return counter;
        } catch (RuntimeException | Error e) {
            System.err.println("cannot count TLS handshakes (no flight recorder?): " + e);
            return new HandshakeCounter(null);
        }
    }

    long count() {
        return stream == null ? -1 : count.sum();
    }

    void reset() {
        count.reset();
    }

    @Override
    public void close() {
        if (stream != null) {
            stream.close();
        }
    }
}
