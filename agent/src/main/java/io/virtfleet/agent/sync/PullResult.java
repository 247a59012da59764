package io.virtfleet.agent.sync;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * What one pull of the definitions did to the clone: the commit it was at and the one it reached, and the
 * VMs whose definition ({@code etc/libvirt/qemu/<vm>.xml}) appeared, changed or went away in between: what a
 * define step must act on. VM names are valid names; everything in that directory that is not a definition
 * is listed in {@code ignored} by its repository path, for a warning.
 *
 * @param previous the commit the clone was at; empty on the first clone
 * @param commit   the controller's {@code main}, which the clone now holds
 * @param added    VMs with a definition now and none before (on the first clone: all of them), sorted
 * @param changed  VMs whose definition differs from before, including one edited by hand in the clone and put
 *                 back by the pull, sorted
 * @param removed  VMs whose definition is gone, sorted
 * @param ignored  repository paths under {@code etc/libvirt/qemu/} that changed but are not definitions, sorted
 * @param took     the pull's wall-clock time
 */
public record PullResult(Optional<String> previous, String commit, List<String> added, List<String> changed,
                         List<String> removed, List<String> ignored, Duration took) {
    public PullResult {
        added = List.copyOf(added);
        changed = List.copyOf(changed);
        removed = List.copyOf(removed);
        ignored = List.copyOf(ignored);
    }

    /** Whether the clone moved to another commit. */
    public boolean moved() {
        return !previous.map(commit::equals).orElse(false);
    }

    /** Whether any definition appeared, changed or went away. */
    public boolean definitionsChanged() {
        return !added.isEmpty() || !changed.isEmpty() || !removed.isEmpty();
    }
}
