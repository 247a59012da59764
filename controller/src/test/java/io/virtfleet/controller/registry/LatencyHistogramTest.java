package io.virtfleet.controller.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class LatencyHistogramTest {

    @Test
    void emptyHistogramReportsZero() {
        LatencyHistogram.Snapshot s = new LatencyHistogram().snapshot();
        assertEquals(0, s.count());
        assertEquals(0, s.percentileNanos(99));
        assertEquals(0, s.meanNanos());
        assertEquals(0, s.maxNanos());
    }

    @Test
    void smallValuesAreExact() {
        LatencyHistogram h = new LatencyHistogram();
        for (int v = 1; v <= 63; v++) {
            h.record(v);
        }
        LatencyHistogram.Snapshot s = h.snapshot();
        assertEquals(63, s.count());
        assertEquals(32, s.percentileNanos(50));
        assertEquals(63, s.percentileNanos(100));
        assertEquals(1, s.percentileNanos(0));
        assertEquals(32.0, s.meanNanos(), 1e-9);
    }

    @Test
    void everyValueFallsInABucketWhoseUpperEdgeIsAtMostThreePercentAbove() {
        int previous = -1;
        for (long v = 0; v < (1L << 41); v = v < 4096 ? v + 1 : v + v / 37 + 1) {
            int index = LatencyHistogram.index(v);
            assertTrue(index >= previous, "buckets are ordered at " + v);
            assertTrue(index < LatencyHistogram.BUCKETS, "bucket in range at " + v);
            long edge = LatencyHistogram.highestIn(index);
            assertTrue(edge >= v, "upper edge " + edge + " below " + v);
            assertTrue(edge - v <= v / 32, "upper edge " + edge + " too far above " + v);
            previous = index;
        }
        for (int shift = 5; shift <= 40; shift++) {
            long p = 1L << shift;
            assertEquals(LatencyHistogram.index(p - 1) + 1, LatencyHistogram.index(p), "continuous at 2^" + shift);
            assertEquals(p - 1, LatencyHistogram.highestIn(LatencyHistogram.index(p - 1)));
        }
    }

    @Test
    void percentilesOfAUniformSpreadAreWithinBucketPrecision() {
        LatencyHistogram h = new LatencyHistogram();
        for (int micros = 1; micros <= 10_000; micros++) {
            h.record(micros * 1_000L);
        }
        LatencyHistogram.Snapshot s = h.snapshot();
        assertEquals(10_000, s.count());
        assertWithin(5_000_000, s.percentileNanos(50));
        assertWithin(9_900_000, s.percentileNanos(99));
        assertEquals(10_000_000, s.percentileNanos(100));
        assertEquals(10_000_000, s.maxNanos());
        assertEquals(5_000_500.0, s.meanNanos(), 1e-6);
    }

    @Test
    void percentileNeverExceedsTheMaximum() {
        LatencyHistogram h = new LatencyHistogram();
        h.record(1_000_001);
        assertEquals(1_000_001, h.snapshot().percentileNanos(99));
    }

    @Test
    void negativeAndHugeValuesAreCountedAtTheEnds() {
        LatencyHistogram h = new LatencyHistogram();
        h.record(-5);
        h.record(Long.MAX_VALUE);
        LatencyHistogram.Snapshot s = h.snapshot();
        assertEquals(2, s.count());
        assertEquals(0, s.percentileNanos(50));
        assertEquals(Long.MAX_VALUE, s.maxNanos());
        assertEquals(LatencyHistogram.highestIn(LatencyHistogram.BUCKETS - 1), s.percentileNanos(100));
    }

    @Test
    void resetForgetsEverything() {
        LatencyHistogram h = new LatencyHistogram();
        h.record(10);
        h.record(1_000_000);
        h.reset();
        LatencyHistogram.Snapshot s = h.snapshot();
        assertEquals(0, s.count());
        assertEquals(0, s.maxNanos());
        assertEquals(0, s.meanNanos());
        h.record(7);
        assertEquals(7, h.snapshot().percentileNanos(100));
    }

    @Test
    void rejectsPercentOutsideRange() {
        LatencyHistogram.Snapshot s = new LatencyHistogram().snapshot();
        assertThrows(IllegalArgumentException.class, () -> s.percentileNanos(-1));
        assertThrows(IllegalArgumentException.class, () -> s.percentileNanos(100.5));
        assertThrows(IllegalArgumentException.class, () -> s.percentileNanos(Double.NaN));
    }

    @Test
    void concurrentRecordsAreAllCounted() throws InterruptedException {
        LatencyHistogram h = new LatencyHistogram();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            long base = t * 1_000L;
            Thread thread = new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < 25_000; i++) {
                    h.record(base + i);
                }
            });
            thread.start();
            threads.add(thread);
        }
        go.countDown();
        for (Thread thread : threads) {
            thread.join();
        }
        LatencyHistogram.Snapshot s = h.snapshot();
        assertEquals(100_000, s.count());
        assertEquals(3_000 + 24_999, s.maxNanos());
    }

    private static void assertWithin(long expected, long actual) {
        assertTrue(actual >= expected && actual <= expected + expected / 32,
                "expected " + expected + " (+3%), found " + actual);
    }
}
