package io.virtfleet.controller.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Where a run of VMs ends is where a scan of the counts in order finds it, whatever the counts and their changes. */
class FitCountsTest {
    @Test
    void aRunEndsWhereAScanOfTheCountsReachesItsLength() {
        Random rnd = new Random(5);
        long[] taken = new long[1];
        for (int round = 0; round < 300; round++) {
            int n = 1 + rnd.nextInt(200);
            long[] counts = new long[n];
            for (int p = 0; p < n; p++) {
                // Many hosts with none (full, or not serving the tier), some with hundreds.
                counts[p] = rnd.nextInt(3) == 0 ? 0 : rnd.nextInt(4) == 0 ? rnd.nextInt(500) : rnd.nextInt(4);
            }
            FitCounts tree = new FitCounts(counts);
            for (int q = 0; q < 100; q++) {
                if (rnd.nextBoolean()) {
                    int p = rnd.nextInt(n);
                    counts[p] = rnd.nextInt(3) == 0 ? 0 : rnd.nextInt(50);
                    tree.set(p, counts[p]);
                }
                long total = 0;
                for (long c : counts) {
                    total += c;
                }
                assertEquals(total, tree.total(), "round " + round);
                if (total == 0) {
                    continue;
                }
                long run = 1 + (long) (rnd.nextDouble() * total);
                int expected = 0;
                long before = 0;
                while (before + counts[expected] < run) {
                    before += counts[expected++];
                }
                assertEquals(expected, tree.reach(run, taken), "round " + round + ", run of " + run);
                assertEquals(run - before, taken[0], "round " + round + ", run of " + run);
                int p = rnd.nextInt(n);
                assertEquals(counts[p], tree.get(p));
                long beyond = total + 1;
                assertThrows(IllegalArgumentException.class, () -> tree.reach(beyond, taken));
                assertThrows(IllegalArgumentException.class, () -> tree.reach(0, taken));
            }
        }
    }
}
