package io.virtfleet.controller.scheduler;

import java.util.Arrays;

/**
 * Hosts' room (memory and vCPUs) in name order, so that the first fit finds the first host by name with room for a
 * VM without looking at every host before it: each node keeps the largest memory and the largest vCPU room below
 * it, and a search skips every subtree whose largest falls short of the VM in either. In a nearly full fleet the
 * first host with room may be thousands of names further; the search finds it in a few dozen steps.
 */
final class RoomTree {
    /** The room of a host that must never be chosen (not serving the tier, not ready, or the host lost). */
    static final long NONE = Long.MIN_VALUE;

    private final int leaves;
    private final long[] memory;
    private final long[] vcpus;
    /**
     * Per node, the largest {@code min(memory, vCPUs × bytesPerVcpu)} below it: where one host has memory and
     * another vCPUs, but none both, a search stops here rather than below.
     */
    private final long[] balanced;
    private final int bytesPerVcpuShift;

    /**
     * A tree for positions {@code 0 .. size - 1}, every one {@link #NONE}.
     *
     * @param bytesPerVcpuShift log2 of the memory weighed against one vCPU in {@link #balanced}: any value is exact,
     *                          one near the VMs' own ratio prunes most
     */
    RoomTree(int size, int bytesPerVcpuShift) {
        this.bytesPerVcpuShift = bytesPerVcpuShift;
        int l = 1;
        while (l < size) {
            l <<= 1;
        }
        leaves = l;
        memory = new long[2 * l];
        vcpus = new long[2 * l];
        balanced = new long[2 * l];
        Arrays.fill(memory, NONE);
        Arrays.fill(vcpus, NONE);
        Arrays.fill(balanced, NONE);
    }

    private long balance(long memoryRoom, long vcpuRoom) {
        if (memoryRoom == NONE || vcpuRoom == NONE) {
            return NONE;
        }
        long scaled = vcpuRoom >= (Long.MAX_VALUE >> bytesPerVcpuShift) ? Long.MAX_VALUE
                : vcpuRoom <= (Long.MIN_VALUE >> bytesPerVcpuShift) ? Long.MIN_VALUE + 1 : vcpuRoom << bytesPerVcpuShift;
        return Math.min(memoryRoom, scaled);
    }

    void set(int position, long memoryRoom, long vcpuRoom) {
        int i = leaves + position;
        memory[i] = memoryRoom;
        vcpus[i] = vcpuRoom;
        balanced[i] = balance(memoryRoom, vcpuRoom);
        for (i >>= 1; i > 0; i >>= 1) {
            memory[i] = Math.max(memory[2 * i], memory[2 * i + 1]);
            vcpus[i] = Math.max(vcpus[2 * i], vcpus[2 * i + 1]);
            balanced[i] = Math.max(balanced[2 * i], balanced[2 * i + 1]);
        }
    }

    long memory(int position) {
        return memory[leaves + position];
    }

    long vcpus(int position) {
        return vcpus[leaves + position];
    }

    /** The first position with at least this memory and these vCPUs of room, or -1. */
    int first(long memoryNeeded, long vcpusNeeded) {
        return first(1, memoryNeeded, vcpusNeeded, balance(memoryNeeded, vcpusNeeded));
    }

    private int first(int node, long m, long v, long b) {
        if (memory[node] < m || vcpus[node] < v || balanced[node] < b) {
            return -1; // nothing below has room in both (a node's largest memory and vCPUs may be two hosts')
        }
        if (node >= leaves) {
            return node - leaves;
        }
        int left = first(2 * node, m, v, b);
        return left >= 0 ? left : first(2 * node + 1, m, v, b);
    }
}
