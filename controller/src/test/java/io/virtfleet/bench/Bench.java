package io.virtfleet.bench;

import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.proto.v1.Vm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Small helpers shared by the benchmark mains. */
final class Bench {
    private Bench() {}

    /** Deletes a directory tree; a missing one is fine. Only ever called on directories a benchmark made. */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The value at percentile {@code p} (0–100) of sorted values, nearest rank; NaN for none. */
    static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    /**
     * Commits a changed definition of {@code vm}: its {@code <description>} becomes {@code mark}, as an operator's
     * edit would change it (no virtfleet command edits a definition yet). Returns the repository's new head.
     */
    static String redescribe(VmStore store, String vm, String mark) throws IOException {
        Vm record = store.get(vm).orElseThrow();
        String xml = store.domainXml(vm).orElseThrow();
        String changed = xml.contains("<description>")
                ? xml.replaceFirst("<description>[^<]*</description>", "<description>" + mark + "</description>")
                : xml.replaceFirst("(<name>" + vm + "</name>)", "$1\n  <description>" + mark + "</description>");
        store.save(record, changed, mark, "bench");
        return store.repo().head();
    }

    /** The value at percentile {@code p} (0–100) of sorted values, nearest rank. */
    static long percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return -1;
        }
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
