package io.virtfleet.controller.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The verdict's numbers read as {@code String.format} would write them. */
class DecimalsTest {
    @Test
    void writesWhatFormatWouldForScoresAndShares() {
        Random rnd = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            double x = switch (i % 4) {
                case 0 -> rnd.nextDouble();
                case 1 -> rnd.nextInt(2001) / 1000.0 - 1; // on the thousandths
                case 2 -> (rnd.nextInt(20001) + 0.5) / 1000.0; // halfway between two of them
                default -> rnd.nextDouble() * 1e6 - 5e5;
            };
            for (int places : new int[] {2, 3}) {
                assertEquals(String.format(Locale.ROOT, "%." + places + "f", x),
                        Decimals.append(new StringBuilder(), x, places).toString(), x + " to " + places);
            }
        }
    }

    @Test
    void bytesAndRatiosReadAsBytesHumanAndTheFiltersWriteThem() {
        Random rnd = new Random(2);
        for (int i = 0; i < 200_000; i++) {
            long bytes = switch (i % 4) {
                case 0 -> rnd.nextLong() >>> rnd.nextInt(64);
                case 1 -> (rnd.nextInt(100_000) * 1024L * 1024 * 1024) / 20 + (long) (rnd.nextInt(3) - 1); // near 0.05 GiB
                case 2 -> (long) rnd.nextInt(4096) << (10 * rnd.nextInt(5));
                default -> -rnd.nextInt(3);
            };
            assertEquals(io.virtfleet.common.units.Bytes.human(bytes), Decimals.appendBytes(new StringBuilder(), bytes)
                    .toString(), Long.toString(bytes));
            double ratio = i % 2 == 0 ? rnd.nextInt(200) / 20.0 : rnd.nextInt(64) * (rnd.nextInt(640) / 10.0);
            assertEquals(Filters.num(ratio), Decimals.appendRatio(new StringBuilder(), ratio).toString(), Double.toString(ratio));
        }
    }

    @Test
    void oddNumbersToo() {
        for (double x : new double[] {0, 1, Double.NaN, Double.POSITIVE_INFINITY, -1e300, 1e15}) {
            assertEquals(String.format(Locale.ROOT, "%.3f", x), Decimals.append(new StringBuilder(), x, 3).toString());
        }
    }
}
