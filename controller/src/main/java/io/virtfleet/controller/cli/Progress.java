package io.virtfleet.controller.cli;

import io.virtfleet.proto.v1.VmProgress;
import java.io.PrintWriter;
import java.util.Iterator;
import java.util.Locale;

/** Prints a streamed operation's steps as they arrive, with the time since the command started. */
final class Progress {
    private Progress() {}

    static void print(Iterator<VmProgress> steps, PrintWriter out, Output output) {
        long start = System.nanoTime();
        while (steps.hasNext()) {
            VmProgress p = steps.next();
            if (output == Output.json) {
                out.println(Json.line(p));
            } else if (!p.getStep().equals("placement")) {
                // A fan-out's lines are one per host: the host leads ("hv4 unreachable: will catch up").
                String detail = p.getStep().equals("replicated") ? p.getHost() + " " + p.getDetail() : p.getDetail();
                out.printf(Locale.ROOT, "[%5.1fs] %-9s %s%n", (System.nanoTime() - start) / 1e9, p.getStep(), detail);
            }
            out.flush();
        }
    }
}
