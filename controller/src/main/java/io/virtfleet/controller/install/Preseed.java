package io.virtfleet.controller.install;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A preseed file being put together: one answer per question, kept where the question was first answered and
 * under the heading it was first given, so that a profile changing a default changes it in place.
 */
final class Preseed {
    /** Questions whose answers add up across profiles instead of replacing each other: package lists. */
    private static final Set<String> ADDITIVE = Set.of("pkgsel/include");

    private record Entry(String heading, Answer answer) {}

    private final List<String> header;
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, List<String>> notes = new LinkedHashMap<>();

    Preseed(List<String> header) {
        this.header = List.copyOf(header);
    }

    /** Answers a question; a question answered before keeps its place and takes the new value. */
    Preseed answer(String heading, Answer answer) {
        Entry before = entries.get(answer.question());
        if (before == null) {
            entries.put(answer.question(), new Entry(heading, answer));
        } else {
            Answer merged = ADDITIVE.contains(answer.question())
                    ? answer.withValue(union(before.answer().value(), answer.value())) : answer;
            entries.put(answer.question(), new Entry(before.heading(), merged));
        }
        return this;
    }

    Preseed answer(String heading, String question, String type, String value) {
        return answer(heading, Answer.of(question, type, value));
    }

    /** Comment lines printed under {@code heading}, before its answers: what a reader must know of them. */
    Preseed note(String heading, List<String> lines) {
        for (String line : lines) {
            if (line.chars().anyMatch(c -> c < 0x20 || c > 0x7e || c == '\\')) {
                throw new IllegalArgumentException("a note is one line of printable ASCII without a backslash: " + line);
            }
        }
        notes.computeIfAbsent(heading, h -> new java.util.ArrayList<>()).addAll(lines);
        return this;
    }

    private static String union(String a, String b) {
        Set<String> words = new LinkedHashSet<>();
        for (String w : (a + " " + b).trim().split("\\s+")) {
            if (!w.isEmpty()) {
                words.add(w);
            }
        }
        return String.join(" ", words);
    }

    /** The file: its header comment, then each heading, with its notes, as a comment above its answers. */
    String text() {
        StringBuilder out = new StringBuilder();
        for (String line : header) {
            out.append("# ").append(line).append('\n');
        }
        String heading = null;
        for (Entry e : entries.values()) {
            if (!e.heading().equals(heading)) {
                heading = e.heading();
                out.append("\n### ").append(heading).append('\n');
                for (String note : notes.getOrDefault(heading, List.of())) {
                    out.append("# ").append(note).append('\n');
                }
            }
            out.append(e.answer().line()).append('\n');
        }
        return out.toString();
    }
}
