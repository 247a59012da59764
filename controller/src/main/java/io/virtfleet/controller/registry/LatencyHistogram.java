package io.virtfleet.controller.registry;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * A fixed-size, lock-free histogram of durations in nanoseconds, cheap enough to record every call on a hot
 * path (one array increment, one add, one read). Buckets are log-linear: exact below 64 ns, then 32 buckets per
 * power of two, so a reported percentile is at most about 3 % above the true value and never above the largest
 * value recorded. Durations past 2^41 ns (about 36 minutes) are counted in the last bucket.
 *
 * <p>{@link #snapshot()} and {@link #reset()} may run while other threads record; a record racing them may land
 * on either side, which is fine for monitoring and benchmarks.
 */
public final class LatencyHistogram {
    private static final int SUB_BITS = 5;
    private static final int SUB_COUNT = 1 << SUB_BITS;
    private static final int MAX_MSB = 40;
    private static final long MAX_VALUE = (1L << (MAX_MSB + 1)) - 1;
    static final int BUCKETS = (MAX_MSB - SUB_BITS + 2) * SUB_COUNT;

    private final AtomicLongArray counts = new AtomicLongArray(BUCKETS);
    private final LongAdder sum = new LongAdder();
    private final AtomicLong max = new AtomicLong();

    /** Counts one duration; negative durations count as zero. */
    public void record(long nanos) {
        long value = Math.max(0, nanos);
        counts.incrementAndGet(index(Math.min(value, MAX_VALUE)));
        sum.add(value);
        long seen = max.get();
        while (value > seen && !max.compareAndSet(seen, value)) {
            seen = max.get();
        }
    }

    /** Forgets everything recorded so far, e.g. at the end of a warm-up. */
    public void reset() {
        for (int i = 0; i < BUCKETS; i++) {
            counts.set(i, 0);
        }
        sum.reset();
        max.set(0);
    }

    public Snapshot snapshot() {
        long[] copy = new long[BUCKETS];
        long count = 0;
        for (int i = 0; i < BUCKETS; i++) {
            copy[i] = counts.get(i);
            count += copy[i];
        }
        return new Snapshot(copy, count, sum.sum(), max.get());
    }

    static int index(long value) {
        int msb = 63 - Long.numberOfLeadingZeros(value | 1);
        if (msb < SUB_BITS) {
            return (int) value;
        }
        int group = msb - SUB_BITS + 1;
        int sub = (int) (value >>> (msb - SUB_BITS)) - SUB_COUNT;
        return group * SUB_COUNT + sub;
    }

    /** The largest duration that falls into bucket {@code index}. */
    static long highestIn(int index) {
        if (index < 2 * SUB_COUNT) {
            return index;
        }
        int group = index / SUB_COUNT;
        long lowest = (long) (SUB_COUNT + index % SUB_COUNT) << (group - 1);
        return lowest + (1L << (group - 1)) - 1;
    }

    /** What the histogram held at one moment. */
    public static final class Snapshot {
        private final long[] counts;
        private final long count;
        private final long sumNanos;
        private final long maxNanos;

        private Snapshot(long[] counts, long count, long sumNanos, long maxNanos) {
            this.counts = counts;
            this.count = count;
            this.sumNanos = sumNanos;
            this.maxNanos = maxNanos;
        }

        public long count() {
            return count;
        }

        public long maxNanos() {
            return maxNanos;
        }

        public double meanNanos() {
            return count == 0 ? 0 : (double) sumNanos / count;
        }

        /**
         * The duration under which {@code percent} % of the recorded ones fall (nearest rank, rounded up to
         * the bucket's upper edge and capped at the maximum); 0 when nothing was recorded.
         */
        public long percentileNanos(double percent) {
            if (!(percent >= 0 && percent <= 100)) {
                throw new IllegalArgumentException("percent must be within 0..100, found " + percent);
            }
            if (count == 0) {
                return 0;
            }
            long rank = Math.max(1, (long) Math.ceil(percent / 100 * count));
            long seen = 0;
            for (int i = 0; i < counts.length; i++) {
                seen += counts[i];
                if (seen >= rank) {
                    return Math.min(highestIn(i), maxNanos);
                }
            }
            return maxNanos;
        }
    }
}
