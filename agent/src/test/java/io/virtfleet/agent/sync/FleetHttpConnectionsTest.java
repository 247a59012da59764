package io.virtfleet.agent.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FleetHttpConnectionsTest {
    /** A response body that records whether it was read to its end and closed. */
    private static final class Body extends FilterInputStream {
        boolean atEnd;
        boolean closed;

        Body(byte[] bytes) {
            super(new ByteArrayInputStream(bytes));
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            atEnd |= n < 0;
            return n;
        }

        @Override
        public void close() throws IOException {
            closed = true;
            super.close();
        }
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    @Test
    void aShortAnswerIsReadToItsEndAndReleasedAtOnce() throws IOException {
        byte[] answer = bytes(300);
        Body body = new Body(answer);
        InputStream in = FleetHttpConnections.wholeOrRest(body);
        assertTrue(body.atEnd && body.closed, "read to the end and closed before JGit reads any of it");
        assertArrayEquals(answer, in.readAllBytes());
    }

    @Test
    void aLongAnswerIsStreamedWholeAndDrainedOnClose() throws IOException {
        byte[] answer = bytes(FleetHttpConnections.EAGER_BYTES * 2 + 17);
        Body body = new Body(answer);
        InputStream in = FleetHttpConnections.wholeOrRest(body);
        assertEquals(false, body.closed);
        assertArrayEquals(answer, in.readAllBytes());

        Body partly = new Body(bytes(FleetHttpConnections.EAGER_BYTES + 100));
        InputStream left = FleetHttpConnections.wholeOrRest(partly);
        left.readNBytes(10);
        left.close();
        assertTrue(partly.atEnd && partly.closed, "the rest (within the bound) drained, then closed");
    }
}
