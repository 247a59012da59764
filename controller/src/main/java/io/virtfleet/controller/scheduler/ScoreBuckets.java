package io.virtfleet.controller.scheduler;

import java.util.Arrays;

/**
 * Host slots filed by a score, in {@link #BUCKETS} buckets of equal width over [0, 1], so that a decision can
 * visit them from the highest score down, a bucket at a time, and stop early. What the score means is the
 * {@link BoundIndex}'s business; this class only files slots.
 *
 * <p>Bucket {@code k} holds the slots whose score {@code s} has {@code floor(s × BUCKETS) == k}, so every
 * score in it is below {@link #ceiling(int) ceiling(k)} {@code = (k + 1) / BUCKETS}. {@code BUCKETS} is a
 * power of two, which makes {@code s × BUCKETS} and the ceilings exact in binary: no slot is ever filed one
 * bucket too low by rounding. A score below 0 goes to bucket 0; one of 1 or more, or NaN, to the top bucket,
 * whose ceiling is infinite: such slots are always visited, never pruned.
 *
 * <p>Adding and removing a slot are O(1) (a removal moves the bucket's last slot into the gap), because
 * every host report and every claim moves its host, and 10,000 hosts report every few seconds. A bitmap of
 * the buckets that hold slots lets a decision skip empty ones 64 at a time.
 */
final class ScoreBuckets {
    /**
     * 1/4096 wide: spread placement evens hosts out, so thousands can sit within a few hundredths. About 33 KB
     * per shape (with 1,024 buckets, 8 KB, but 30 % more hosts judged per decision at 10,000 hosts).
     */
    static final int BUCKETS = 4096;

    /** Allocated on first use: most of a shape's buckets stay empty. */
    private final int[][] slots = new int[BUCKETS][];
    private final int[] sizes = new int[BUCKETS];
    private final long[] nonEmpty = new long[BUCKETS / 64];
    /** The highest bucket that holds slots, -1 if none: where every decision starts. */
    private int top = -1;

    /** Adds the slot to the bucket; returns its position there, which the caller keeps to remove it. */
    int add(int bucket, int slot) {
        if (slots[bucket] == null) {
            slots[bucket] = new int[4];
        } else if (sizes[bucket] == slots[bucket].length) {
            slots[bucket] = Arrays.copyOf(slots[bucket], sizes[bucket] * 2);
        }
        slots[bucket][sizes[bucket]] = slot;
        nonEmpty[bucket >> 6] |= 1L << bucket;
        top = Math.max(top, bucket);
        return sizes[bucket]++;
    }

    /**
     * Removes the slot at {@code position} by moving the bucket's last slot there; returns the slot moved
     * (whose position is now {@code position}), or -1 if the removed slot was the last.
     */
    int removeAt(int bucket, int position) {
        int last = --sizes[bucket];
        if (last == 0) {
            nonEmpty[bucket >> 6] &= ~(1L << bucket);
            if (bucket == top) {
                top = below(bucket);
            }
        }
        if (position == last) {
            return -1;
        }
        int moved = slots[bucket][last];
        slots[bucket][position] = moved;
        return moved;
    }

    /** The highest bucket that holds slots, or -1. */
    int top() {
        return top;
    }

    /** The highest bucket below {@code bucket} that holds slots, or -1. */
    int below(int bucket) {
        if (bucket <= 0) {
            return -1;
        }
        int word = (bucket - 1) >> 6;
        long bits = nonEmpty[word] & (-1L >>> (63 - ((bucket - 1) & 63)));
        while (bits == 0) {
            if (--word < 0) {
                return -1;
            }
            bits = nonEmpty[word];
        }
        return (word << 6) + 63 - Long.numberOfLeadingZeros(bits);
    }

    int size(int bucket) {
        return sizes[bucket];
    }

    /** The bucket's slots in positions {@code 0 .. size(bucket) - 1}; read only, valid until the next change. */
    int[] slots(int bucket) {
        return slots[bucket];
    }

    /** Every score filed in {@code bucket} is strictly below this. */
    static double ceiling(int bucket) {
        return bucket == BUCKETS - 1 ? Double.POSITIVE_INFINITY : (bucket + 1) / (double) BUCKETS;
    }

    static int bucket(double score) {
        if (!(score < 1)) {
            return BUCKETS - 1; // 1 or more, or NaN
        }
        return score < 0 ? 0 : (int) (score * BUCKETS);
    }
}
