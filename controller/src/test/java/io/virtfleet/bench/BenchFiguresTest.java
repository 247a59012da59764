package io.virtfleet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.stream.DoubleStream;
import org.junit.jupiter.api.Test;

/** The figures the benchmarks' closing tables are built from: per-thread CPU from /proc, medians and goals. */
class BenchFiguresTest {
    @Test
    void threadCpuOfThisJvmAddsUpToItsProcessCpuAndFindsItsCompilers() {
        Map<ProcStats.ThreadKind, Long> before = ProcStats.threadCpuNanos(-1);
        long process = ProcStats.cpuNanos(-1);
        Map<ProcStats.ThreadKind, Long> after = ProcStats.threadCpuNanos(-1);

        assertEquals(ProcStats.ThreadKind.values().length, after.size());
        long sum = after.values().stream().mapToLong(Long::longValue).sum();
        long tick = 1_000_000_000L / 100;
        // Threads that ended took their time with them, so the sum may be lower, never higher (beyond a tick or
        // two of CPU used between the reads).
        assertTrue(sum <= process + 2 * tick, "threads " + sum + " ns, process " + process + " ns");
        assertTrue(after.values().stream().mapToLong(Long::longValue).sum()
                >= before.values().stream().mapToLong(Long::longValue).sum());
        // By now this JVM compiled something; its compiler threads' names hold a space ("C1 CompilerThre").
        assertTrue(after.get(ProcStats.ThreadKind.JIT) > 0, "no CPU found for the JIT threads: " + after);
    }

    @Test
    void threadKindsComeFromTheNamesLinuxKeeps() {
        assertEquals(ProcStats.ThreadKind.EVENT_LOOP, ProcStats.ThreadKind.of("vf-controller-i"));
        assertEquals(ProcStats.ThreadKind.JIT, ProcStats.ThreadKind.of("C2 CompilerThre"));
        assertEquals(ProcStats.ThreadKind.GC, ProcStats.ThreadKind.of("G1 Refine#0"));
        assertEquals(ProcStats.ThreadKind.GC, ProcStats.ThreadKind.of("VM Thread"));
        assertEquals(ProcStats.ThreadKind.OTHER, ProcStats.ThreadKind.of("vf-reconciler"));
    }

    @Test
    void medianOfOddAndEvenCountsAndGoals() {
        assertEquals(2, Summary.median(DoubleStream.of(3, 1, 2)));
        assertEquals(2.5, Summary.median(DoubleStream.of(4, 1, 3, 2)));
        assertTrue(Double.isNaN(Summary.median(DoubleStream.empty())));
        assertTrue(Summary.atMost(10).met().test(10));
        assertFalse(Summary.atMost(10).met().test(10.01));
    }

    @Test
    void aScrapesCostIsWhatPhaseATookBeyondPhaseBForAsManyHeartbeatsScaledToAnyInterval() {
        // B: 30,000 heartbeats in 30 s for 3 s of CPU (10 % of a core). A: 30,000 heartbeats in 30 s with 30 scrapes
        // for 4.5 s: 1.5 s more, 50 ms per scrape.
        ScrapeCost c = new ScrapeCost(new ScrapeCost.Phase(30, 30_000, 4_500_000_000L, 30),
                new ScrapeCost.Phase(30, 30_000, 3_000_000_000L, 0));
        assertEquals(1.5, c.ratio(), 1e-9);
        assertEquals(50, c.cpuMillisPerScrape(), 1e-9);
        assertEquals(50.0 / 15_000 * 100, c.extraPercentAt(java.time.Duration.ofSeconds(15)), 1e-9);
        assertEquals((10 + 50.0 / 15_000 * 100) / 10, c.ratioAt(java.time.Duration.ofSeconds(15)), 1e-9);
        // Measured at the interval itself, the ratio is A over B.
        assertEquals(1.5, c.ratioAt(java.time.Duration.ofSeconds(1)), 1e-9);

        // B answered fewer heartbeats (33,000 against 30,000 in A): its CPU is counted for A's 30,000 only.
        ScrapeCost uneven = new ScrapeCost(new ScrapeCost.Phase(30, 30_000, 4_500_000_000L, 30),
                new ScrapeCost.Phase(33, 33_000, 3_300_000_000L, 0));
        assertEquals(50, uneven.cpuMillisPerScrape(), 1e-9);
        // Noise larger than the scrapes shows as a negative cost, not hidden.
        assertTrue(new ScrapeCost(new ScrapeCost.Phase(30, 30_000, 2_900_000_000L, 30),
                new ScrapeCost.Phase(30, 30_000, 3_000_000_000L, 0)).cpuMillisPerScrape() < 0);
        assertThrows(IllegalArgumentException.class, () -> new ScrapeCost(new ScrapeCost.Phase(30, 30_000, 1, 0),
                new ScrapeCost.Phase(30, 30_000, 1, 0)));
    }
}
