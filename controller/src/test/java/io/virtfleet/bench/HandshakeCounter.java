package io.virtfleet.bench;

import java.util.concurrent.atomic.LongAdder;
import jdk.jfr.consumer.RecordingStream;

/**
 * Counts the TLS handshakes this JVM completes, from the JDK's own {@code jdk.TLSHandshake} flight-recorder
 * event (emitted by JSSE, which is what Netty uses here: there is no native TLS library on the class path).
 * Nothing in the controller changes for it. Events reach the stream about once a second, so a count read
 * right after a burst can lag by up to that long.
 */
final class HandshakeCounter implements AutoCloseable {
    private final RecordingStream stream;
    private final LongAdder count = new LongAdder();

    private HandshakeCounter(RecordingStream stream) {
        this.stream = stream;
    }

    /** A running counter, or one that always answers -1 if this JVM cannot record. */
    static HandshakeCounter start() {
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
