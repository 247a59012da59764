package io.virtfleet.controller.scheduler;

/**
 * Per position (hosts in name order), how many VMs of one size a host's room takes, with the sums of every prefix:
 * a run of {@code r} such VMs placed first fit, each into the first host by name with room left, fills every host
 * before the one where the sum reaches {@code r} and part of that one. A Fenwick tree: a count set and that host
 * found in a dozen steps at 10,000 hosts, however many hosts the run spans.
 */
final class FitCounts {
    private final long[] counts;
    /** Fenwick sums, 1-based: {@code sums[i]} covers positions {@code (i - lowbit(i)) .. i - 1}. */
    private final long[] sums;
    private final int highestStep;
    private long total;

    /** Positions {@code 0 .. counts.length - 1} with these counts (each at least 0). */
    FitCounts(long[] counts) {
        int n = counts.length;
        this.counts = counts.clone();
        sums = new long[n + 1];
        for (int i = 1; i <= n; i++) {
            sums[i] += counts[i - 1];
            total += counts[i - 1];
            int parent = i + (i & -i);
            if (parent <= n) {
                sums[parent] += sums[i];
            }
        }
        highestStep = n == 0 ? 0 : Integer.highestOneBit(n);
    }

    long get(int position) {
        return counts[position];
    }

    void set(int position, long count) {
        long delta = count - counts[position];
        if (delta == 0) {
            return;
        }
        counts[position] = count;
        total += delta;
        for (int i = position + 1; i < sums.length; i += i & -i) {
            sums[i] += delta;
        }
    }

    long total() {
        return total;
    }

    /**
     * The first position where the counts summed from position 0 reach {@code r} (1 to {@link #total}); {@code
     * takenOut[0]} is set to what that position takes of a run of {@code r}: {@code r} less the sum before it.
     */
    int reach(long r, long[] takenOut) {
        if (r < 1 || r > total) {
            throw new IllegalArgumentException("a run of " + r + " where the counts sum to " + total);
        }
        int at = 0;
        long left = r;
        for (int step = highestStep; step > 0; step >>= 1) {
            int next = at + step;
            if (next < sums.length && sums[next] < left) {
                at = next;
                left -= sums[next];
            }
        }
        takenOut[0] = left;
        return at;
    }
}
