package io.virtfleet.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.DoublePredicate;
import java.util.stream.DoubleStream;

/**
 * The closing table of a benchmark: per mode and figure, the median over every window (or storm, or round)
 * measured, the spread (smallest – largest), the goal and whether the median meets it. Each row is also printed
 * as one {@code SUMMARY …} line for collecting runs.
 */
final class Summary {
    /** A goal on a figure: its text and the test the median must pass. */
    record Goal(String text, DoublePredicate met) {}

    private record Row(String mode, String figure, int n, double median, double min, double max, Goal goal) {}

    private final String title;
    private final List<Row> rows = new ArrayList<>();

    Summary(String title) {
        this.title = title;
    }

    static Goal atMost(double limit) {
        return new Goal("<= " + number(limit), v -> v <= limit);
    }

    static double median(DoubleStream values) {
        double[] v = values.filter(d -> !Double.isNaN(d)).sorted().toArray();
        if (v.length == 0) {
            return Double.NaN;
        }
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** Adds a row; {@code goal} null for a figure that only explains the others. */
    void add(String mode, String figure, DoubleStream values, Goal goal) {
        double[] v = values.filter(d -> !Double.isNaN(d)).sorted().toArray();
        if (v.length == 0) {
            rows.add(new Row(mode, figure, 0, Double.NaN, Double.NaN, Double.NaN, goal));
            return;
        }
        rows.add(new Row(mode, figure, v.length, median(Arrays.stream(v)), v[0], v[v.length - 1], goal));
    }

    void print() {
        System.out.println("== summary: " + title + " (median and spread = smallest-largest over n measurements)");
        System.out.printf(Locale.ROOT, "%-20s %-42s %3s %10s %21s %9s %8s%n", "mode", "figure", "n", "median", "spread",
                "goal", "verdict");
        for (Row r : rows) {
            String verdict = r.goal() == null ? "" : Double.isNaN(r.median()) ? "NO DATA"
                    : r.goal().met().test(r.median()) ? "PASS" : "FAIL";
            System.out.printf(Locale.ROOT, "%-20s %-42s %3d %10s %21s %9s %8s%n", r.mode(), r.figure(), r.n(),
                    number(r.median()), r.n() > 1 ? number(r.min()) + " - " + number(r.max()) : "",
                    r.goal() == null ? "" : r.goal().text(), verdict);
        }
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "SUMMARY %s mode=%s figure=\"%s\" n=%d median=%s min=%s max=%s goal=\"%s\""
                            + " verdict=%s%n", title.split(":")[0].replace(' ', '-'), r.mode(), r.figure().trim(), r.n(),
                    number(r.median()), number(r.min()), number(r.max()), r.goal() == null ? "" : r.goal().text(),
                    r.goal() == null ? "-" : Double.isNaN(r.median()) ? "NO_DATA"
                            : r.goal().met().test(r.median()) ? "PASS" : "FAIL");
        }
    }

    private static String number(double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        double a = Math.abs(v);
        return String.format(Locale.ROOT, a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", v);
    }
}
