package io.virtfleet.controller.scheduler;

import java.util.Arrays;

/**
 * Hosts' room (memory and vCPUs) in name order, so that the first fit finds the first host by name with room for a
 * VM without looking at every host before it: each node keeps, of the hosts below it, the largest memory room, the
 * largest vCPU room and, for several ratios {@code r} of memory to one vCPU, the largest {@code min(memory, vCPUs ×
 * r)}; a search skips every subtree where one of them falls short of the VM's. The ratios matter where hosts have
 * memory but no vCPUs left, or the reverse: the two largest alone would come from different hosts and let the
 * search wander; with {@code r} near the VM's own ratio a node passes only if one host below has room in both.
 * Every test is necessary for a host to fit, so a search never skips the first host that does.
 */
final class RoomTree {
    /** The room of a host that must never be chosen (not serving the tier, not ready). */
    static final long NONE = Long.MIN_VALUE;
    /** The ratios: 2^27 (128 MiB) to 2^36 (64 GiB) of memory per vCPU. */
    private static final int LOWEST_SHIFT = 27;
    private static final int SHIFTS = 10;

    /** Values a node keeps: memory, vCPUs, then one per ratio. */
    private static final int WIDTH = 2 + SHIFTS;
    private static final int MEMORY = 0;
    private static final int VCPUS = 1;
    private static final int BALANCED = 2;

    private final int leaves;
    /**
     * Node {@code i}'s values at {@code i * WIDTH ..}: a node and its sibling side by side, so that working out a
     * parent reads a few neighbouring cache lines rather than one line in each of a dozen arrays.
     */
    private final long[] nodes;

    /** A tree for positions {@code 0 .. size - 1}, every one {@link #NONE}. */
    RoomTree(int size) {
        int l = 1;
        while (l < size) {
            l <<= 1;
        }
        leaves = l;
        nodes = new long[2 * l * WIDTH];
        Arrays.fill(nodes, NONE);
    }

    /** {@code min(memory, vcpus × 2^shift)}, NONE for a host never chosen. */
    private static long balance(long memoryRoom, long vcpuRoom, int shift) {
        if (memoryRoom == NONE || vcpuRoom == NONE) {
            return NONE;
        }
        long scaled = vcpuRoom >= Long.MAX_VALUE >> shift ? Long.MAX_VALUE
                : vcpuRoom <= (NONE >> shift) + 1 ? NONE + 1 : vcpuRoom << shift;
        return Math.min(memoryRoom, scaled);
    }

    private void setLeafValues(int position, long memoryRoom, long vcpuRoom) {
        int at = (leaves + position) * WIDTH;
        nodes[at + MEMORY] = memoryRoom;
        nodes[at + VCPUS] = vcpuRoom;
        for (int s = 0; s < SHIFTS; s++) {
            nodes[at + BALANCED + s] = balance(memoryRoom, vcpuRoom, LOWEST_SHIFT + s);
        }
    }

    /** Sets positions {@code 0 .. memory.length - 1} at once: what {@link #set} for each does, in one pass. */
    void setAll(long[] memoryRoom, long[] vcpuRoom) {
        for (int p = 0; p < memoryRoom.length; p++) {
            setLeafValues(p, memoryRoom[p], vcpuRoom[p]);
        }
        for (int i = leaves - 1; i > 0; i--) {
            int at = i * WIDTH;
            int left = 2 * at;
            int right = left + WIDTH;
            for (int k = 0; k < WIDTH; k++) {
                nodes[at + k] = Math.max(nodes[left + k], nodes[right + k]);
            }
        }
    }

    void set(int position, long memoryRoom, long vcpuRoom) {
        setLeafValues(position, memoryRoom, vcpuRoom);
        // Up to the first node the change leaves as it was: every node above it is a maximum of the same values.
        // A host is seldom the largest of a large subtree, so most changes stop a few levels up.
        for (int i = (leaves + position) >> 1; i > 0; i >>= 1) {
            int at = i * WIDTH;
            int left = 2 * at;
            int right = left + WIDTH;
            boolean changed = false;
            for (int k = 0; k < WIDTH; k++) {
                long x = Math.max(nodes[left + k], nodes[right + k]);
                if (nodes[at + k] != x) {
                    nodes[at + k] = x;
                    changed = true;
                }
            }
            if (!changed) {
                return;
            }
        }
    }

    /**
     * The first position at or after {@code from} whose room is at least this memory and these vCPUs, or -1. The
     * two ratios nearest the VM's own are tested besides memory and vCPUs.
     */
    int first(long memoryNeeded, long vcpusNeeded, int from) {
        int ratio = vcpusNeeded <= 0 ? SHIFTS - 1
                : 63 - Long.numberOfLeadingZeros(Math.max(1, memoryNeeded / vcpusNeeded)) - LOWEST_SHIFT;
        int low = Math.max(0, Math.min(SHIFTS - 1, ratio));
        int high = Math.min(SHIFTS - 1, low + 1);
        long wantLow = balance(memoryNeeded, vcpusNeeded, LOWEST_SHIFT + low);
        long wantHigh = balance(memoryNeeded, vcpusNeeded, LOWEST_SHIFT + high);
        return first(1, 0, leaves, memoryNeeded, vcpusNeeded, from, BALANCED + low, wantLow, BALANCED + high, wantHigh);
    }

    /** The search below {@code node}, which covers positions {@code [start, start + width)}. */
    private int first(int node, int start, int width, long m, long v, int from, int low, long wantLow, int high,
                      long wantHigh) {
        int at = node * WIDTH;
        if (start + width <= from || nodes[at + MEMORY] < m || nodes[at + VCPUS] < v || nodes[at + low] < wantLow
                || nodes[at + high] < wantHigh) {
            return -1;
        }
        if (width == 1) {
            return start;
        }
        int half = width >> 1;
        int left = first(2 * node, start, half, m, v, from, low, wantLow, high, wantHigh);
        return left >= 0 ? left : first(2 * node + 1, start + half, half, m, v, from, low, wantLow, high, wantHigh);
    }
}
