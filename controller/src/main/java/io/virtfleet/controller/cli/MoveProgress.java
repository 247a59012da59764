package io.virtfleet.controller.cli;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.VmProgress;
import java.io.PrintWriter;
import java.util.Iterator;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Prints a move's steps as they arrive, one line each. The source's agent reports the migration's progress every
 * half second; of those, a line is printed per phase and per tenth of the way, the same on a terminal as in a log or
 * a pipe, so a long migration neither floods nor goes silent. {@code -o json}: every event, one JSON object per line.
 */
final class MoveProgress {
    private MoveProgress() {}

    static void print(Iterator<VmProgress> steps, PrintWriter out, Output output, Consumer<PlacementExplanation> placement) {
        long start = System.nanoTime();
        MigrationProgress.Phase lastPhase = null;
        int lastTenth = -1;
        while (steps.hasNext()) {
            VmProgress p = steps.next();
            if (p.hasPlacement()) {
                placement.accept(p.getPlacement());
            }
            if (output == Output.json) {
                out.println(Json.line(p));
            } else if (p.hasMigration()) {
                MigrationProgress m = p.getMigration();
                int tenth = m.getPercent() / 10;
                if (m.getPhase() != lastPhase || tenth > lastTenth) {
                    out.printf(Locale.ROOT, "[%5.1fs] %-9s %s%n", (System.nanoTime() - start) / 1e9, "migrating", line(m));
                    lastPhase = m.getPhase();
                    lastTenth = tenth;
                }
            } else if (!p.getStep().equals("placement") || p.hasPlacement()) {
                String detail = p.getStep().equals("replicated") ? p.getHost() + " " + p.getDetail() : p.getDetail();
                out.printf(Locale.ROOT, "[%5.1fs] %-9s %s%n", (System.nanoTime() - start) / 1e9, p.getStep(), detail);
            }
            out.flush();
        }
    }

    /** "memory 41% (612 MiB of 1.0 GiB sent, 402 MiB left)", "done, disk 20 GiB copied, paused 180 ms for ...". */
    static String line(MigrationProgress m) {
        String phase = switch (m.getPhase()) {
            case PHASE_PREPARING -> "preparing";
            case PHASE_COPYING_DISK -> "disk";
            case PHASE_COPYING_MEMORY -> "memory";
            case PHASE_DONE -> "done";
            default -> "migrating";
        };
        if (m.getPhase() == MigrationProgress.Phase.PHASE_DONE) {
            return phase + (m.getDiskCopiedBytes() > 0 ? ", disk " + Bytes.human(m.getDiskCopiedBytes()) + " copied" : "")
                    + (m.getDowntimeMs() > 0 ? ", paused " + m.getDowntimeMs() + " ms for the switch-over" : "");
        }
        if (m.getDataTotalBytes() <= 0) {
            return phase + (m.getDetail().isEmpty() ? "" : ": " + m.getDetail());
        }
        return String.format(Locale.ROOT, "%s %d%% (%s of %s sent, %s left)", phase, m.getPercent(),
                Bytes.human(m.getDataProcessedBytes()), Bytes.human(m.getDataTotalBytes()),
                Bytes.human(m.getDataRemainingBytes()));
    }
}
