package io.virtfleet.agent.network;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The changes one ensure made so far, each with the action that reverts it, so that a step failing half-way
 * leaves the host as it found it rather than half set up. Not thread-safe: one per ensure.
 */
final class Changes {
    private static final Logger log = LoggerFactory.getLogger(Changes.class);

    private record Change(String what, Runnable undo) {}

    private final Deque<Change> made = new ArrayDeque<>();

    /** Records a change just made and how to revert it. */
    void made(String what, Runnable undo) {
        made.push(new Change(what, undo));
    }

    boolean any() {
        return !made.isEmpty();
    }

    /**
     * Reverts every recorded change, newest first, and says so for an error message: "; undone: ..." or, when
     * some revert failed too, what is left for an operator to remove.
     */
    String revert() {
        if (made.isEmpty()) {
            return "";
        }
        List<String> undone = new ArrayList<>();
        List<String> left = new ArrayList<>();
        while (!made.isEmpty()) {
            Change change = made.pop();
            try {
                change.undo().run();
                undone.add(change.what());
            } catch (NetworkException e) {
                log.warn("could not revert '{}': {}", change.what(), e.getMessage());
                left.add(change.what() + " (" + e.getMessage() + ")");
            }
        }
        return (undone.isEmpty() ? "" : "; undone: " + String.join(", ", undone))
                + (left.isEmpty() ? "" : "; could NOT undo, remove by hand: " + String.join(", ", left));
    }
}
