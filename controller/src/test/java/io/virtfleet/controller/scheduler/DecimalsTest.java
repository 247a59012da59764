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
    void oddNumbersToo() {
        for (double x : new double[] {0, 1, Double.NaN, Double.POSITIVE_INFINITY, -1e300, 1e15}) {
            assertEquals(String.format(Locale.ROOT, "%.3f", x), Decimals.append(new StringBuilder(), x, 3).toString());
        }
    }
}
