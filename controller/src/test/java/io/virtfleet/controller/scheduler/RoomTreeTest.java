package io.virtfleet.controller.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The tree's search finds what a scan of every host in name order finds, whatever the rooms and the VM. */
class RoomTreeTest {
    @Test
    void theFirstHostWithRoomIsTheOneAScanFinds() {
        Random rnd = new Random(3);
        for (int round = 0; round < 200; round++) {
            int n = 1 + rnd.nextInt(300);
            long[] memory = new long[n];
            long[] vcpus = new long[n];
            RoomTree tree = new RoomTree(n);
            for (int i = 0; i < n; i++) {
                // Memory and vCPUs often at odds: much of one and little of the other; some hosts never chosen.
                memory[i] = rnd.nextInt(10) == 0 ? RoomTree.NONE : (rnd.nextInt(64) - 4) * (1L << 30) + rnd.nextInt(1 << 20);
                vcpus[i] = memory[i] == RoomTree.NONE ? RoomTree.NONE : rnd.nextInt(40) - 4;
                if (round % 2 == 0) {
                    tree.set(i, memory[i], vcpus[i]);
                }
            }
            if (round % 2 == 1) {
                tree.setAll(memory, vcpus); // the same tree in one pass
            }
            for (int q = 0; q < 200; q++) {
                if (rnd.nextInt(4) == 0) {
                    int i = rnd.nextInt(n);
                    memory[i] -= rnd.nextInt(8) * (1L << 30);
                    vcpus[i] = memory[i] < 0 && rnd.nextBoolean() ? RoomTree.NONE : vcpus[i];
                    tree.set(i, vcpus[i] == RoomTree.NONE ? RoomTree.NONE : memory[i], vcpus[i]);
                    memory[i] = vcpus[i] == RoomTree.NONE ? RoomTree.NONE : memory[i];
                } else if (rnd.nextInt(3) == 0) {
                    // Room given back (a plan undone): larger than before, or a host chosen again.
                    int i = rnd.nextInt(n);
                    memory[i] = (memory[i] == RoomTree.NONE ? 0 : memory[i]) + rnd.nextInt(16) * (1L << 30);
                    vcpus[i] = (vcpus[i] == RoomTree.NONE ? 0 : vcpus[i]) + rnd.nextInt(8);
                    tree.set(i, memory[i], vcpus[i]);
                }
                long m = (1L + rnd.nextInt(48)) << (24 + rnd.nextInt(8));
                long c = rnd.nextInt(17);
                int from = rnd.nextInt(n + 1);
                int expected = -1;
                for (int i = from; i < n && expected < 0; i++) {
                    if (memory[i] != RoomTree.NONE && memory[i] >= m && vcpus[i] >= c) {
                        expected = i;
                    }
                }
                assertEquals(expected, tree.first(m, c, from), "round " + round + " query " + q + ": " + m + " bytes, "
                        + c + " vCPUs from " + from);
            }
        }
    }
}
