package io.virtfleet.controller.scheduler;

import java.util.List;

/**
 * Every host's verdict for a request: the chosen host first, then the other hosts that fit by score, then
 * those that do not by name.
 *
 * @param chosenHost null when no host fits
 */
public record Explanation(String chosenHost, List<Verdict> verdicts) {
    public Explanation {
        verdicts = List.copyOf(verdicts);
    }

    /** One line per failing filter with how many hosts it stopped: the heart of a "no host fits" error. */
    public String summary() {
        if (verdicts.isEmpty()) {
            return "no hosts are known to the controller";
        }
        java.util.Map<String, List<Verdict>> byFilter = new java.util.TreeMap<>();
        for (Verdict v : verdicts) {
            if (!v.fits()) {
                byFilter.computeIfAbsent(v.failedFilter(), k -> new java.util.ArrayList<>()).add(v);
            }
        }
        StringBuilder s = new StringBuilder();
        byFilter.forEach((filter, list) -> {
            s.append(s.length() == 0 ? "" : "; ").append(filter).append(": ").append(list.size())
                    .append(list.size() == 1 ? " host" : " hosts").append(" (").append(list.get(0).host()).append(": ")
                    .append(list.get(0).reason()).append(list.size() > 1 ? ", ..." : "").append(')');
        });
        return s.toString();
    }
}
