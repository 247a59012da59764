package io.virtfleet.controller.scheduler;

import java.util.Map;

/**
 * One host's verdict for one request.
 *
 * @param failedFilter the first filter the host failed, null when it fits
 * @param reason       why, with the numbers; for a fitting host, the score in words
 * @param score        total score, higher is better (NaN for a host that does not fit)
 * @param parts        each score part (0..1) by name: load, memory, vcpus
 */
public record Verdict(String host, boolean fits, String failedFilter, String reason, double score,
                      Map<String, Double> parts) {

    public Verdict {
        parts = Map.copyOf(parts);
    }
}
